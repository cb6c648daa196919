//! GraphQL subscriptions over WebSocket (`graphql-transport-ws` on GET /graphql): changes made on
//! one instance reach subscribers on another, technicians see only their own and unassigned
//! tickets, tokens expire, slow clients are dropped, and a database restart is survived.

use std::time::{Duration, Instant};

use deskpulse::auth::{Claims, Role};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{
    PATIENCE, TestApp, client, serve_settings, spawn_app, start_servers, wait_for_status, wait_until,
};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const CHANGED: &str = "subscription($filter: TicketFilter) { ticketChanged(filter: $filter) { version \
     event { kind fromValue toValue actor note } interaction { summary } ticket { id number status version assignee { id } } } }";
const UPDATED: &str = "subscription($id: ID!) { ticketUpdated(id: $id) { version event { kind fromValue toValue } ticket { id status } } }";
const TRANSITION: &str = "mutation($id: ID!, $version: Int!, $to: TicketStatus!) { transitionTicket(id: $id, version: $version, to: $to) { version } }";
const NOTE: &str = "mutation($id: ID!, $version: Int!, $note: String!) { addTicketNote(id: $id, version: $version, note: $note) { version } }";

fn ws_url(address: &str) -> String {
    format!("{}/graphql", address.replacen("http://", "ws://", 1))
}

async fn connect(address: &str) -> Ws {
    let mut request = ws_url(address).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(request).await.expect("open the WebSocket");
    assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
    ws
}

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(frame.to_string())).await.expect("send a frame");
}

/// The next text frame, or `{"close": code, "reason": …}` when the server closes.
async fn next_frame(ws: &mut Ws) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let message = tokio::time::timeout_at(deadline, ws.next()).await.expect("a frame within the patience");
        match message {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).expect("a JSON frame"),
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) =
                    frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new()));
                return json!({ "close": code, "reason": reason });
            }
            Some(Ok(_)) => continue,
            Some(Err(err)) => return json!({ "close": 1006, "reason": err.to_string() }),
            None => return json!({ "close": 1006, "reason": "ended" }),
        }
    }
}

/// Opens a connection, authenticates it with `token` and waits for the acknowledgement.
async fn connect_as(address: &str, token: &str) -> Ws {
    let mut ws = connect(address).await;
    send(&mut ws, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
        .await;
    assert_eq!(next_frame(&mut ws).await, json!({ "type": "connection_ack" }));
    ws
}

async fn subscribe(ws: &mut Ws, id: &str, query: &str, variables: Value) {
    send(ws, json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })).await;
}

/// The gauge `name` at a metrics address.
async fn gauge(metrics: &str, name: &str) -> u64 {
    crate::helpers::counter(&client(), metrics, name).await
}

/// Waits until the instance whose metrics listen at `metrics` has `count` subscriptions open, so
/// that a change made next is certain to find them listening.
async fn wait_for_subscriptions(metrics: &str, count: u64) {
    wait_until(&format!("{count} subscriptions on {metrics}"), || async move {
        gauge(metrics, "deskpulse_ws_subscriptions").await == count
    })
    .await;
}

async fn post(app: &TestApp, address: &str, token: &str, query: &str, variables: Value) -> Value {
    let response = app
        .client
        .post(format!("{address}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("post");
    response.json().await.expect("a JSON answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_made_on_one_instance_reaches_a_subscriber_on_another() {
    let a = spawn_app().await;
    let (b, _) = start_servers(&serve_settings(&a.database.url)).await;
    wait_for_status(&a.client, &format!("{b}/readyz"), 200, PATIENCE).await;
    let supervisor = a.supervisor();
    let customer = a.create_customer("Ada Lovelace").await;
    let ticket = a.create_ticket(&supervisor, customer, json!({})).await;
    let id = ticket["id"].as_str().unwrap().to_owned();

    let mut ws = connect_as(&a.address, &supervisor).await;
    subscribe(&mut ws, "one", UPDATED, json!({ "id": id })).await;
    subscribe(&mut ws, "all", CHANGED, json!({ "filter": { "status": ["IN_PROGRESS"] } })).await;
    wait_for_subscriptions(a.metrics_address.as_deref().unwrap(), 2).await;

    // A refused change (stale version) rolls back: it is never announced.
    let refused = post(&a, &b, &supervisor, TRANSITION, json!({ "id": id, "version": 7, "to": "RESOLVED" })).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "CONFLICT", "{refused}");

    let made = Instant::now();
    let done = post(&a, &b, &supervisor, TRANSITION, json!({ "id": id, "version": 1, "to": "IN_PROGRESS" })).await;
    assert_eq!(done["data"]["transitionTicket"]["version"], 2, "{done}");
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(next_frame(&mut ws).await);
    }
    eprintln!("instance B's transition reached instance A's subscriber after {:?}", made.elapsed());
    seen.sort_by_key(|frame| frame["id"].as_str().unwrap_or_default().to_owned());
    let (all, one) = (&seen[0], &seen[1]);
    assert_eq!(one["type"], "next", "{one}");
    assert_eq!(one["id"], "one");
    let change = &one["payload"]["data"]["ticketUpdated"];
    assert_eq!(change["version"], 2, "{one}");
    assert_eq!(change["event"], json!({ "kind": "STATUS_CHANGED", "fromValue": "OPEN", "toValue": "IN_PROGRESS" }));
    assert_eq!(change["ticket"], json!({ "id": id, "status": "IN_PROGRESS" }));
    assert_eq!(all["id"], "all", "{all}");
    assert_eq!(all["payload"]["data"]["ticketChanged"]["event"]["actor"], "sam.supervisor");

    // A note added on A, then one on B: both reach the subscriber on A, in commit order.
    post(&a, &a.address, &supervisor, NOTE, json!({ "id": id, "version": 2, "note": "first" })).await;
    post(&a, &b, &supervisor, NOTE, json!({ "id": id, "version": 3, "note": "second" })).await;
    let mut notes = Vec::new();
    while notes.len() < 2 {
        let frame = next_frame(&mut ws).await;
        if frame["id"] == "all" {
            notes.push(frame["payload"]["data"]["ticketChanged"]["event"]["note"].clone());
        }
    }
    assert_eq!(notes, vec![json!("first"), json!("second")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_technicians_subscription_never_carries_another_technicians_ticket() {
    let app = spawn_app().await;
    let supervisor = app.supervisor();
    let (mine, theirs) =
        (app.create_technician("Tess Mine", "L1").await, app.create_technician("Theo Theirs", "L1").await);
    let customer = app.create_customer("Grace Hopper").await;

    let tess = app.technician_token("tess", mine);
    let mut technician = connect_as(&app.address, &tess).await;
    subscribe(&mut technician, "t", CHANGED, json!({})).await;
    let mut watcher = connect_as(&app.address, &supervisor).await;
    subscribe(&mut watcher, "s", CHANGED, json!({ "filter": { "priority": ["URGENT"] } })).await;
    wait_for_subscriptions(app.metrics_address.as_deref().unwrap(), 2).await;

    // Theo's ticket, created and changed: never Tess's to see.
    let other = app
        .create_ticket(&supervisor, customer, json!({ "assigneeId": theirs.to_string(), "priority": "URGENT" }))
        .await;
    let other_id = other["id"].as_str().unwrap().to_owned();
    post(&app, &app.address, &supervisor, NOTE, json!({ "id": other_id, "version": 1, "note": "not for Tess" })).await;
    // Then Tess's own ticket: the first thing she hears of.
    let own = app.create_ticket(&tess, customer, json!({ "assigneeId": mine.to_string() })).await;
    let own_id = own["id"].as_str().unwrap();

    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        let frame = next_frame(&mut technician).await;
        let change = &frame["payload"]["data"]["ticketChanged"];
        assert_eq!(change["ticket"]["id"], own_id, "Tess heard of another ticket: {frame}");
        kinds.push(change["event"]["kind"].as_str().unwrap().to_owned());
    }
    assert_eq!(kinds, ["CREATED", "ASSIGNED"]);

    // The supervisor, filtering on URGENT, hears Theo's ticket (and nothing of Tess's NORMAL one).
    let mut heard = Vec::new();
    while heard.len() < 3 {
        let frame = next_frame(&mut watcher).await;
        let change = &frame["payload"]["data"]["ticketChanged"];
        assert_eq!(change["ticket"]["id"], other_id.as_str(), "{frame}");
        heard.push(change["event"]["kind"].as_str().unwrap().to_owned());
    }
    assert_eq!(heard, ["CREATED", "ASSIGNED", "NOTE_ADDED"]);

    // Handed to Tess, Theo's ticket reaches her from that change on.
    post(
        &app,
        &app.address,
        &supervisor,
        "mutation($id: ID!, $to: ID) { assignTicket(id: $id, version: 2, assigneeId: $to) { version } }",
        json!({ "id": other_id, "to": mine.to_string() }),
    )
    .await;
    let frame = next_frame(&mut technician).await;
    assert_eq!(frame["payload"]["data"]["ticketChanged"]["ticket"]["id"], other_id.as_str(), "{frame}");
    assert_eq!(frame["payload"]["data"]["ticketChanged"]["event"]["kind"], "ASSIGNED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_closes_when_its_token_expires_unless_a_fresh_one_is_sent() {
    let app = spawn_app().await;
    let supervisor = app.supervisor();

    // No token, a bad one, an expired one: refused at connection_init.
    let mut ws = connect(&app.address).await;
    send(&mut ws, json!({ "type": "connection_init", "payload": {} })).await;
    assert_eq!(next_frame(&mut ws).await["close"], 4403);
    let expired = app
        .keys
        .sign(&Claims {
            sub: "old".into(),
            role: Role::Supervisor,
            exp: chrono::Utc::now().timestamp() - 600,
            iat: chrono::Utc::now().timestamp() - 3600,
            nbf: None,
            technician_id: None,
            iss: None,
            aud: None,
            purpose: None,
        })
        .unwrap();
    let mut ws = connect(&app.address).await;
    send(&mut ws, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {expired}") } }))
        .await;
    assert_eq!(next_frame(&mut ws).await["close"], 4403);

    // A token with two seconds left: the server closes the socket when it expires.
    let short = app.keys.issue("brief", Role::Supervisor, None, Duration::from_secs(2)).unwrap();
    let mut ws = connect_as(&app.address, &short).await;
    subscribe(&mut ws, "1", CHANGED, json!({})).await;
    let closed = next_frame(&mut ws).await;
    assert_eq!(closed["close"], 4401, "{closed}");
    assert!(closed["reason"].as_str().unwrap().contains("expired"), "{closed}");

    // The same, renewed before it expires by a second connection_init with a fresh token: the
    // connection outlives the first token and still carries changes.
    let short = app.keys.issue("brief", Role::Supervisor, None, Duration::from_secs(2)).unwrap();
    let mut ws = connect_as(&app.address, &short).await;
    let fresh = app.keys.issue("brief", Role::Supervisor, None, Duration::from_secs(3600)).unwrap();
    send(&mut ws, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {fresh}") } }))
        .await;
    assert_eq!(next_frame(&mut ws).await, json!({ "type": "connection_ack" }));
    subscribe(&mut ws, "1", CHANGED, json!({})).await;
    wait_for_subscriptions(app.metrics_address.as_deref().unwrap(), 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let customer = app.create_customer("Kept Open").await;
    app.create_ticket(&supervisor, customer, json!({})).await;
    let frame = next_frame(&mut ws).await;
    assert_eq!(frame["payload"]["data"]["ticketChanged"]["event"]["kind"], "CREATED", "{frame}");

    // A fresh token for someone else is refused, and closes the connection.
    let stranger = app.keys.issue("someone.else", Role::Supervisor, None, Duration::from_secs(3600)).unwrap();
    send(&mut ws, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {stranger}") } }))
        .await;
    assert_eq!(next_frame(&mut ws).await["close"], 4403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_frames_are_held_to_the_query_bounds_and_the_caps() {
    let app = spawn_app_with_caps().await;
    let supervisor = app.supervisor();
    let mut ws = connect_as(&app.address, &supervisor).await;
    subscribe(&mut ws, "q", "{ me { subject } }", json!({})).await;
    let frame = next_frame(&mut ws).await;
    assert_eq!(frame["type"], "error", "{frame}");
    assert!(frame["payload"][0]["message"].as_str().unwrap().contains("only subscriptions"), "{frame}");

    let deep = format!(
        "subscription {{ ticketChanged {{ ticket {}{}{} }} }}",
        "{ customer { tickets { nodes ".repeat(6),
        "{ id }",
        " } } }".repeat(6)
    );
    subscribe(&mut ws, "deep", &deep, json!({})).await;
    // Refused by the schema's own depth and complexity limits, as over HTTP: async-graphql
    // answers such a subscription with one `next` carrying the error, then `complete`.
    let frame = next_frame(&mut ws).await;
    assert_eq!(frame["id"], "deep", "{frame}");
    assert_eq!(frame["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{frame}");
    assert_eq!(next_frame(&mut ws).await, json!({ "id": "deep", "type": "complete" }));

    subscribe(&mut ws, "1", CHANGED, json!({})).await;
    subscribe(&mut ws, "2", CHANGED, json!({})).await;
    subscribe(&mut ws, "3", CHANGED, json!({})).await;
    let frame = next_frame(&mut ws).await;
    assert_eq!(frame["id"], "3", "{frame}");
    assert!(frame["payload"][0]["message"].as_str().unwrap().contains("at most 2 subscriptions"), "{frame}");
    // Completing one frees its place.
    send(&mut ws, json!({ "id": "1", "type": "complete" })).await;
    subscribe(&mut ws, "3", CHANGED, json!({})).await;
    wait_for_subscriptions(app.metrics_address.as_deref().unwrap(), 2).await;

    // One connection is the instance's cap: a second is answered 503.
    let mut request = ws_url(&app.address).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("a second connection was not refused: {:?}", other.map(|(_, response)| response.status())),
    }
}

async fn spawn_app_with_caps() -> TestApp {
    crate::helpers::spawn_app_with(|settings| {
        settings.live.max_connections = 1;
        settings.live.max_subscriptions = 2;
        settings.limits.max_depth = 8;
    })
    .await
}

/// A connection whose socket reads almost nothing: a small receive buffer, and the test never
/// reads it after subscribing.
async fn connect_stalled(address: &str, token: &str) -> Ws {
    let port: u16 = address.rsplit(':').next().unwrap().parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let mut request = ws_url(address).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream)).await.unwrap();
    send(&mut ws, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
        .await;
    assert_eq!(next_frame(&mut ws).await, json!({ "type": "connection_ack" }));
    ws
}

/// Notes straight into the timeline, `count` in one transaction: the trigger announces each.
fn add_notes(database_url: &str, ticket_id: &str, count: u32, note_chars: u32) {
    use diesel::{Connection, RunQueryDsl};
    diesel::sql_query(format!(
        "INSERT INTO ticket_events (ticket_id, at, actor, kind, note) \
         SELECT {ticket_id}, now(), 'flood', 'NOTE_ADDED', repeat('x', {note_chars}) FROM generate_series(1, {count})"
    ))
    .execute(&mut diesel::PgConnection::establish(database_url).expect("connect"))
    .expect("insert notes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_while_the_servers_memory_stays_flat() {
    use crate::processes::{ServerProcess, free_port};
    let database = crate::helpers::TestDatabase::migrated();
    let metrics_port = free_port().to_string();
    let metrics = format!("http://127.0.0.1:{metrics_port}");
    let server = ServerProcess::start(
        &database.url,
        &[
            ("DESKPULSE_METRICS_BIND", &format!("127.0.0.1:{metrics_port}")),
            ("DESKPULSE_WS_SEND_TIMEOUT", "2s"),
            ("DESKPULSE_WS_SUBSCRIBER_BUFFER", "256"),
        ],
    );
    let http = client();
    wait_for_status(&http, &format!("{}/readyz", server.address), 200, PATIENCE).await;
    let keys = deskpulse::auth::TokenKeys::from_settings(&crate::helpers::jwt_settings()).unwrap();
    let token = keys.issue("sam", Role::Supervisor, None, Duration::from_secs(3600)).unwrap();
    let body: Value = http
        .post(format!("{}/graphql", server.address))
        .bearer_auth(&token)
        .json(&json!({ "query": "mutation { createTicket(input: { newCustomer: { name: \"Flood\" }, subject: \"Flood\", category: \"load\", channel: \"WEB\" }) { id } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ticket_id = body["data"]["createTicket"]["id"].as_str().expect("a ticket").to_owned();

    let mut reader = connect_as(&server.address, &token).await;
    subscribe(&mut reader, "r", UPDATED, json!({ "id": ticket_id })).await;
    let mut stalled = connect_stalled(&server.address, &token).await;
    subscribe(&mut stalled, "s", CHANGED, json!({})).await;
    wait_for_subscriptions(&metrics, 2).await;
    let before = server.resident_kib();

    // 3,000 notes of 19,000 characters (57 MB of notes) in batches the reading client keeps up
    // with; the stalled one reads none of it.
    let (batches, per_batch, note_chars) = (30u32, 100u32, 19_000u32);
    let mut peak = before;
    for _ in 0..batches {
        let database_url = database.url.clone();
        let id = ticket_id.clone();
        tokio::task::spawn_blocking(move || add_notes(&database_url, &id, per_batch, note_chars)).await.unwrap();
        for _ in 0..per_batch {
            let frame = next_frame(&mut reader).await;
            assert_eq!(frame["payload"]["data"]["ticketUpdated"]["event"]["kind"], "NOTE_ADDED", "{frame}");
        }
        peak = peak.max(server.resident_kib());
    }
    wait_until("the stalled connection to be dropped", || async {
        gauge(&metrics, "deskpulse_ws_connections").await == 1
    })
    .await;
    let after = server.resident_kib();
    eprintln!(
        "server memory (VmRSS): {before} KiB before, peak {peak} KiB during 57 MB of changes, {after} KiB after; \
         the stalled client was dropped"
    );
    // Everything the stalled client left unread would be more than 57 MB had it been queued.
    assert!(peak.saturating_sub(before) < 32 * 1024, "memory grew from {before} KiB to {peak} KiB");

    // The reader is still served.
    tokio::task::block_in_place(|| add_notes(&database.url, &ticket_id, 1, 10));
    assert_eq!(next_frame(&mut reader).await["payload"]["data"]["ticketUpdated"]["event"]["kind"], "NOTE_ADDED");
    drop(stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_50_subscriptions_tells_every_socket_and_the_server_recovers() {
    use crate::processes::{PrivatePostgres, ServerProcess, free_port};
    use diesel::{Connection, RunQueryDsl};
    let postgres = tokio::task::spawn_blocking(PrivatePostgres::start).await.unwrap();
    {
        let mut admin = diesel::PgConnection::establish(&postgres.url("postgres")).unwrap();
        diesel::sql_query("CREATE DATABASE deskpulse").execute(&mut admin).unwrap();
    }
    let metrics_port = free_port().to_string();
    let metrics = format!("http://127.0.0.1:{metrics_port}");
    let server = ServerProcess::start(
        &postgres.url("deskpulse"),
        &[("DESKPULSE_METRICS_BIND", &format!("127.0.0.1:{metrics_port}")), ("DESKPULSE_DB_POOL_TIMEOUT", "1s")],
    );
    let http = client();
    wait_for_status(&http, &format!("{}/readyz", server.address), 200, PATIENCE).await;
    let keys = deskpulse::auth::TokenKeys::from_settings(&crate::helpers::jwt_settings()).unwrap();
    let token = keys.issue("sam", Role::Supervisor, None, Duration::from_secs(3600)).unwrap();

    let mut sockets = Vec::new();
    for _ in 0..50 {
        let mut ws = connect_as(&server.address, &token).await;
        subscribe(&mut ws, "1", CHANGED, json!({})).await;
        sockets.push(ws);
    }
    wait_for_subscriptions(&metrics, 50).await;

    tokio::task::block_in_place(|| postgres.stop_server("fast"));
    tokio::task::block_in_place(|| postgres.start_server());

    // Every socket is told that changes may be missing.
    for ws in &mut sockets {
        let frame = next_frame(ws).await;
        assert_eq!(frame["type"], "next", "{frame}");
        assert_eq!(frame["payload"]["errors"][0]["extensions"]["code"], "CHANGES_MISSED", "{frame}");
    }
    // And the feed is back: a ticket created now reaches every one of them.
    wait_for_status(&http, &format!("{}/readyz", server.address), 200, PATIENCE).await;
    let create = json!({ "query": "mutation { createTicket(input: { newCustomer: { name: \"After\" }, subject: \"After the restart\", category: \"db\", channel: \"WEB\" }) { id } }" });
    let deadline = Instant::now() + PATIENCE;
    let ticket = loop {
        let answer = http.post(format!("{}/graphql", server.address)).bearer_auth(&token).json(&create).send().await;
        if let Ok(answer) = answer
            && let Ok(body) = answer.json::<Value>().await
            && let Some(id) = body["data"]["createTicket"]["id"].as_str()
        {
            break id.to_owned();
        }
        assert!(Instant::now() < deadline, "no ticket could be created after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for ws in &mut sockets {
        let frame = next_frame(ws).await;
        let change = &frame["payload"]["data"]["ticketChanged"];
        assert_eq!(change["ticket"]["id"], ticket.as_str(), "{frame}");
        assert_eq!(change["event"]["kind"], "CREATED");
    }
    assert_eq!(gauge(&metrics, "deskpulse_ws_connections").await, 50);
}

/// The test's own LISTEN connection on the change channel, and the payloads it hears.
async fn listen_to_changes(url: &str) -> (tokio_postgres::Client, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (client, mut connection) =
        tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect to LISTEN");
    let (heard, hearing) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(notification) = message {
                let _ = heard.send(notification.payload().to_owned());
            }
        }
    });
    client.batch_execute(&format!("LISTEN {}", deskpulse::live::CHANNEL)).await.expect("LISTEN");
    (client, hearing)
}

/// Asserts that nothing is heard for a while after a committed change (notifications are
/// delivered at commit, so one that was sent arrives within milliseconds).
async fn assert_silent(hearing: &mut tokio::sync::mpsc::UnboundedReceiver<String>, when: &str) {
    if let Ok(Some(payload)) = tokio::time::timeout(Duration::from_millis(700), hearing.recv()).await {
        panic!("{when}: the change was announced ({payload})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_announce_changes_only_while_some_instance_has_subscribers() {
    let app = spawn_app().await;
    let supervisor = app.supervisor();
    let customer = app.create_customer("Ada Lovelace").await;
    let ticket = app.create_ticket(&supervisor, customer, json!({})).await;
    let id = ticket["id"].as_str().unwrap().to_owned();
    let (_listening, mut hearing) = listen_to_changes(&app.database.url).await;

    let noted =
        post(&app, &app.address, &supervisor, NOTE, json!({ "id": id, "version": 1, "note": "unwatched" })).await;
    assert_eq!(noted["data"]["addTicketNote"]["version"], 2, "{noted}");
    assert_silent(&mut hearing, "with no subscriber anywhere").await;
    assert_eq!(app.count("SELECT count(*) FROM live_presence"), 0);

    let metrics = app.metrics_address.clone().unwrap();
    let mut ws = connect_as(&app.address, &supervisor).await;
    subscribe(&mut ws, "all", CHANGED, json!({})).await;
    wait_for_subscriptions(&metrics, 1).await;
    assert_eq!(app.count("SELECT count(*) FROM live_presence"), 1, "the instance is present while it has a subscriber");
    let noted = post(&app, &app.address, &supervisor, NOTE, json!({ "id": id, "version": 2, "note": "watched" })).await;
    assert_eq!(noted["data"]["addTicketNote"]["version"], 3, "{noted}");
    let payload = tokio::time::timeout(PATIENCE, hearing.recv()).await.expect("announced").unwrap();
    assert!(payload.starts_with(&format!("e {id} ")), "{payload}");
    let frame = next_frame(&mut ws).await;
    assert_eq!(frame["payload"]["data"]["ticketChanged"]["event"]["note"], "watched", "{frame}");

    // The last subscriber gone, the instance withdraws and writes are silent again.
    ws.close(None).await.expect("close the WebSocket");
    drop(ws);
    wait_for_subscriptions(&metrics, 0).await;
    wait_until("the presence withdrawn", || async { app.count("SELECT count(*) FROM live_presence") == 0 }).await;
    let noted =
        post(&app, &app.address, &supervisor, NOTE, json!({ "id": id, "version": 3, "note": "unwatched again" })).await;
    assert_eq!(noted["data"]["addTicketNote"]["version"], 4, "{noted}");
    assert_silent(&mut hearing, "after the last subscriber left").await;
}
