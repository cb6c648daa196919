//! Reporting from a read replica, with real streaming replication: a private primary and a
//! streaming replica made from it with `pg_basebackup -R`, and a server given both.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deskpulse::auth::{Role, TokenKeys};
use deskpulse::config::Secret;
use deskpulse::replicas::{ReplicaSettings, ReplicaUrls};
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::{Value, json};

use crate::helpers::{
    PATIENCE, client, counter, jwt_settings, serve_settings, start_servers, wait_for_status, wait_until,
};
use crate::processes::PrivatePostgres;

const KPIS: &str = "query($p: PeriodInput!) { kpis(period: $p) { dataAsOf current { ticketsOpened } } }";
const REPLICA_READS: &str = "deskpulse_replica_reads_total{replica=\"0\"}";
const FALLBACK_READS: &str = "deskpulse_replica_fallback_reads_total";

const TOP_CATEGORIES: &str = "query($p: PeriodInput!) { topCategories(period: $p) { tickets dataAsOf } }";

/// From a day ago to a day ahead.
fn today() -> Value {
    let now = Utc::now();
    json!({ "from": now - chrono::Duration::days(1), "to": now + chrono::Duration::days(1) })
}

/// A primary, its streaming replica, and a server reading reports from the replica.
struct Replicated {
    primary: PrivatePostgres,
    replica: PrivatePostgres,
    address: String,
    metrics: String,
    http: reqwest::Client,
    token: String,
}

#[derive(diesel::QueryableByName)]
struct Number {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// A number from SQL run straight against the database at `url`.
fn number(url: &str, sql: &str) -> i64 {
    let mut conn = PgConnection::establish(url).expect("connect");
    diesel::sql_query(format!("SELECT ({sql})::bigint AS n")).get_result::<Number>(&mut conn).expect(sql).n
}

fn execute(url: &str, sql: &str) {
    let mut conn = PgConnection::establish(url).expect("connect");
    diesel::sql_query(sql).execute(&mut conn).expect(sql);
}

impl Replicated {
    async fn start() -> Replicated {
        let primary = tokio::task::spawn_blocking(PrivatePostgres::start).await.unwrap();
        execute(&primary.url("postgres"), "CREATE DATABASE deskpulse");
        // Nothing else runs yet: blocking this worker for the base backup holds nothing up.
        let replica = PrivatePostgres::replica_of(&primary);
        let mut settings = serve_settings(&primary.url("deskpulse"));
        settings.replicas = ReplicaSettings {
            urls: Some(ReplicaUrls(vec![replica.url("deskpulse").parse::<Secret>().unwrap()])),
            max_lag: Duration::from_secs(2),
            check_interval: Duration::from_millis(200),
            pool_size: 4,
        };
        settings.database.pool_timeout = Duration::from_secs(2);
        // Every load client may be streaming an export at once (the default cap is 2).
        settings.limits.max_concurrent_exports = 4;
        let (address, metrics) = start_servers(&settings).await;
        let http = client();
        wait_for_status(&http, &format!("{address}/readyz"), 200, PATIENCE).await;
        let keys = TokenKeys::from_settings(&jwt_settings()).unwrap();
        let token = keys.issue("sam.supervisor", Role::Supervisor, None, Duration::from_secs(3600)).unwrap();
        let cluster = Replicated { primary, replica, address, metrics: metrics.expect("metrics are on"), http, token };
        cluster.wait_for_replica_state("usable").await;
        cluster
    }

    async fn post(&self, query: &str, variables: Value) -> Result<Value, String> {
        let response = self
            .http
            .post(format!("{}/graphql", self.address))
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|err| format!("no answer: {err}"))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.map_err(|err| format!("not JSON: {err}"))?;
        if status != 200 || body.get("errors").is_some() {
            return Err(format!("{status}: {body}"));
        }
        Ok(body["data"].clone())
    }

    async fn create_ticket(&self, customer: &Value) {
        let input =
            json!({ "customerId": customer, "subject": "VPN drops", "category": "network", "channel": "EMAIL" });
        self.post("mutation($i: CreateTicketInput!) { createTicket(input: $i) { id } }", json!({ "i": input }))
            .await
            .unwrap();
    }

    async fn create_customer(&self) -> Value {
        let data = self.post("mutation { createCustomer(input: { name: \"Replica Ltd\" }) { id } }", json!({})).await;
        data.unwrap()["createCustomer"]["id"].clone()
    }

    /// Today's tickets opened and the answer's dataAsOf.
    async fn kpis(&self) -> Result<(i64, DateTime<Utc>), String> {
        let data = self.post(KPIS, json!({ "p": today() })).await?;
        let opened = data["kpis"]["current"]["ticketsOpened"].as_i64().ok_or("no ticketsOpened")?;
        let as_of = data["kpis"]["dataAsOf"].as_str().ok_or("no dataAsOf")?.parse().map_err(|_| "a bad dataAsOf")?;
        Ok((opened, as_of))
    }

    /// Today's busiest category's tickets and the answer's dataAsOf.
    async fn top_category(&self) -> Result<(i64, DateTime<Utc>), String> {
        let data = self.post(TOP_CATEGORIES, json!({ "p": today() })).await?;
        let top = &data["topCategories"][0];
        let tickets = top["tickets"].as_i64().ok_or("no top category")?;
        let as_of = top["dataAsOf"].as_str().ok_or("no dataAsOf")?.parse().map_err(|_| "a bad dataAsOf")?;
        Ok((tickets, as_of))
    }

    /// The lines of the ticket CSV export from yesterday to the day after tomorrow, header included.
    async fn export_lines(&self) -> Result<usize, String> {
        let day = |days: i64| (Utc::now() + chrono::Duration::days(days)).format("%Y-%m-%dT00:00:00Z").to_string();
        let response = self
            .http
            .get(format!("{}/export/tickets.csv?from={}&to={}", self.address, day(-1), day(2)))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|err| format!("no answer: {err}"))?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|err| format!("the export was cut short: {err}"))?;
        if status != 200 {
            return Err(format!("export {status}: {body}"));
        }
        Ok(body.lines().count())
    }

    async fn status(&self) -> Value {
        let response = self.http.get(format!("{}/status", self.address)).bearer_auth(&self.token).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.unwrap()
    }

    async fn wait_for_replica_state(&self, state: &str) {
        wait_until(&format!("the replica is {state}"), || async move {
            self.status().await["replicas"][0]["status"]["state"] == state
        })
        .await;
    }

    async fn metric(&self, name: &str) -> u64 {
        counter(&self.http, &self.metrics, name).await
    }

    /// Waits until the replica has replayed everything the primary has written so far.
    async fn wait_for_replay(&self) {
        let written: String = {
            #[derive(diesel::QueryableByName)]
            struct Lsn {
                #[diesel(sql_type = diesel::sql_types::Text)]
                lsn: String,
            }
            let mut conn = PgConnection::establish(&self.primary.url("deskpulse")).unwrap();
            diesel::sql_query("SELECT pg_current_wal_lsn()::text AS lsn").get_result::<Lsn>(&mut conn).unwrap().lsn
        };
        let replica = self.replica.url("deskpulse");
        wait_until("the replica replays the write", || {
            let (replica, written) = (replica.clone(), written.clone());
            async move { number(&replica, &format!("(pg_last_wal_replay_lsn() >= '{written}'::pg_lsn)::int")) == 1 }
        })
        .await;
    }

    /// Scans of the KPI fact tables on the replica itself (a standby counts its own reads).
    fn fact_scans_on_replica(&self) -> i64 {
        number(
            &self.replica.url("deskpulse"),
            "SELECT coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0) FROM pg_stat_user_tables \
             WHERE relname IN ('kpi_ticket_facts', 'kpi_fact_blocks', 'technicians')",
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpi_reads_go_to_the_replica_see_a_write_once_replayed_and_move_to_the_primary_while_replay_is_paused() {
    let cluster = Replicated::start().await;
    let customer = cluster.create_customer().await;
    let before_write = Utc::now();
    cluster.create_ticket(&customer).await;
    cluster.wait_for_replay().await;
    let (scans, reads) = (cluster.fact_scans_on_replica(), cluster.metric(REPLICA_READS).await);

    // On the replica: the write is there once replayed, and the answer says how fresh it is.
    let (opened, as_of) = cluster.kpis().await.unwrap();
    assert_eq!(opened, 1, "the replayed ticket counts");
    assert!(as_of >= before_write && as_of <= Utc::now(), "dataAsOf {as_of} is the replica's replayed state");
    assert_eq!(cluster.metric(REPLICA_READS).await, reads + 1, "the replica answered the read");
    assert_eq!(cluster.metric(FALLBACK_READS).await, 0, "the primary answered no reporting read");
    let replica_sessions = number(
        &cluster.replica.url("postgres"),
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'deskpulse-reporting'",
    );
    assert!(replica_sessions >= 1, "the server's reporting pool is connected to the replica");
    let scanned = || cluster.fact_scans_on_replica() > scans;
    wait_until("the replica counts the KPI read's scans", || async { scanned() }).await;

    // The other reporting reads too: a report list with its count, top categories with their
    // freshness, and the ticket CSV export.
    let reads = cluster.metric(REPLICA_READS).await;
    let data = cluster.post("{ reports(first: 5) { totalCount nodes { id } } }", json!({})).await.unwrap();
    assert_eq!(data["reports"]["totalCount"], 0);
    let (tickets, as_of) = cluster.top_category().await.unwrap();
    assert_eq!(tickets, 1);
    assert!(as_of >= before_write && as_of <= Utc::now(), "topCategories' dataAsOf {as_of}");
    assert_eq!(cluster.export_lines().await.unwrap(), 2, "the header and the replayed ticket");
    assert_eq!(cluster.metric(REPLICA_READS).await, reads + 4, "list, count, categories and export read the replica");

    // Replay paused and a write on the primary: once the replica is past the maximum lag, reports
    // read the primary, which has the write.
    execute(&cluster.replica.url("deskpulse"), "SELECT pg_wal_replay_pause()");
    let replica = cluster.replica.url("deskpulse");
    wait_until("replay pauses", || {
        let replica = replica.clone();
        async move { number(&replica, "(pg_get_wal_replay_pause_state() = 'paused')::int") == 1 }
    })
    .await;
    cluster.create_ticket(&customer).await;
    cluster.wait_for_replica_state("lagging").await;
    let lag = cluster.status().await["replicas"][0]["status"]["lagSeconds"].as_f64();
    assert!(lag.is_none_or(|lag| lag > 2.0), "the lag shown is past the maximum: {lag:?}");
    let fallbacks = cluster.metric(FALLBACK_READS).await;
    let (opened, as_of) = cluster.kpis().await.unwrap();
    assert_eq!(opened, 2, "the primary's answer has the write the paused replica lacks");
    assert!((Utc::now() - as_of).num_seconds() < 2, "the primary's answer is fresh: {as_of}");
    assert_eq!(cluster.metric(FALLBACK_READS).await, fallbacks + 1, "the fallback is counted");
    let metrics = cluster.http.get(format!("{}/metrics", cluster.metrics)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("deskpulse_replica_usable{replica=\"0\"} 0"), "{metrics}");

    // Resumed: the replica catches up and answers again.
    execute(&cluster.replica.url("deskpulse"), "SELECT pg_wal_replay_resume()");
    cluster.wait_for_replica_state("usable").await;
    let reads = cluster.metric(REPLICA_READS).await;
    assert_eq!(cluster.kpis().await.unwrap().0, 2);
    assert_eq!(cluster.metric(REPLICA_READS).await, reads + 1, "the replica answers again");

    // Writes and the reads after them stay on the primary: a mutation's answer has its change.
    let data = cluster.post("{ tickets(first: 5) { totalCount } }", json!({})).await.unwrap();
    assert_eq!(data["tickets"]["totalCount"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_replica_stopped_mid_load_no_reporting_request_fails() {
    let cluster = Arc::new(Replicated::start().await);
    let customer = cluster.create_customer().await;
    cluster.create_ticket(&customer).await;
    cluster.wait_for_replay().await;

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (cluster, stop, answered) = (cluster.clone(), stop.clone(), answered.clone());
        load.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            // KPIs, top categories and the streamed export in turn, each expecting its one ticket.
            for round in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let (what, answer) = match round % 3 {
                    0 => ("tickets opened", cluster.kpis().await.map(|(opened, _)| opened as usize)),
                    1 => ("top category tickets", cluster.top_category().await.map(|(tickets, _)| tickets as usize)),
                    _ => (
                        "export lines beyond the header",
                        cluster.export_lines().await.map(|lines| lines.saturating_sub(1)),
                    ),
                };
                match answer {
                    Ok(1) => {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(other) => failures.push(format!("{other} {what}")),
                    Err(err) => failures.push(err),
                }
            }
            failures
        }));
    }
    wait_until("the replica answers some of the load", || async { cluster.metric(REPLICA_READS).await >= 5 }).await;
    let stopping = cluster.clone();
    tokio::task::spawn_blocking(move || stopping.replica.stop_server("fast")).await.unwrap();
    let after_stop = answered.load(Ordering::SeqCst);
    wait_until("the primary answers the load", || async { answered.load(Ordering::SeqCst) >= after_stop + 20 }).await;
    stop.store(true, Ordering::SeqCst);
    for task in load {
        let failures = task.await.unwrap();
        assert!(failures.is_empty(), "requests failed: {failures:?}");
    }
    assert!(cluster.metric(FALLBACK_READS).await >= 20, "the primary took the reads over");
    cluster.wait_for_replica_state("down").await;
    let metrics = cluster.http.get(format!("{}/metrics", cluster.metrics)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("deskpulse_replica_up{replica=\"0\""), "{metrics}");
    assert!(metrics.lines().any(|line| line.starts_with("deskpulse_replica_up{") && line.ends_with(" 0")), "{metrics}");
    // /readyz stays about the primary; /status needs a staff token.
    wait_for_status(&cluster.http, &format!("{}/readyz", cluster.address), 200, PATIENCE).await;
    let anonymous = cluster.http.get(format!("{}/status", cluster.address)).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(cluster.status().await["primary"]["status"], "ready");
}

#[test]
fn a_replica_check_interval_not_shorter_than_the_maximum_lag_is_refused_naming_the_setting() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_deskpulse"))
        .args(["serve", "--bind", "127.0.0.1:0", "--metrics", "false"])
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("DESKPULSE_JWT_SECRET", crate::helpers::TEST_SECRET)
        .env("DESKPULSE_REPLICA_URLS", "postgres://nobody@127.0.0.1:1/none")
        .env("DESKPULSE_REPLICA_MAX_LAG", "1s")
        .env("DESKPULSE_REPLICA_CHECK_INTERVAL", "2s")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DESKPULSE_REPLICA_CHECK_INTERVAL") && stderr.contains("shorter"), "{stderr}");
}
