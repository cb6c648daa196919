//! KPI benchmark: the figures of docs/benchmarks.md.
//!
//! Run against a seeded database (`deskpulse seed --tickets 1000000`):
//!
//!     DATABASE_URL=postgres://.../seedbench cargo bench --bench kpis
//!
//! For each scenario it times, as medians and p90s of repeated runs after a warm-up: the **floor**
//! (the statements the engine sends, their values received but not decoded: what PostgreSQL and
//! the connection alone take), the **engine** (the store function the resolvers call, in
//! process), each first **cold** (no sealed block kept in memory: the database sends every
//! block) and then **warm** (the blocks kept from earlier reads, as in a running server), and the
//! same question end to end over **HTTP** (warm): a GraphQL request to a release server started
//! in-process on a free port, with a real JWT. Not a test: nothing here passes or fails.

use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, TimeZone, Utc};
use deskpulse::auth::{Role, TokenKeys};
use deskpulse::config::{DatabaseSettings, JwtSettings, LimitSettings, ServerSettings};
use deskpulse::schedule::ReportScheduleSettings;
use deskpulse::startup::{Application, ServeSettings};
use deskpulse::store::kpi_block_cache;
use deskpulse::store::kpis::{self, Bucket, Grouping, KpiFilter, KpiQuery};
use diesel::{Connection, PgConnection};
use serde_json::{Value, json};

/// Timed runs per scenario and way (BENCH_RUNS overrides), after WARM_UP untimed ones.
const RUNS: usize = 15;
const WARM_UP: usize = 2;

struct Scenario {
    name: &'static str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: Option<Bucket>,
    grouping: Grouping,
    time_zone: &'static str,
    /// A summary also computes its previous period (in the same pass over the rows).
    periods: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    graphql: String,
}

fn stats(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(samples[samples.len() / 2]), ms(samples[(samples.len() * 9) / 10]))
}

/// Times `run` WARM_UP + `runs` times and keeps the last `runs`.
fn timed(
    runs: usize,
    mut run: impl FnMut() -> Result<Duration, Box<dyn std::error::Error>>,
) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let mut samples = Vec::with_capacity(runs);
    for round in 0..WARM_UP + runs {
        let took = run()?;
        if round >= WARM_UP {
            samples.push(took);
        }
    }
    Ok(samples)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL to a seeded database")?;
    let mut conn = PgConnection::establish(&url)?;
    // The latest complete month and year of the data set.
    let now = Utc::now();
    let month_start = Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).single().ok_or("date")?;
    let previous_month = if month_start.month() == 1 {
        Utc.with_ymd_and_hms(month_start.year() - 1, 12, 1, 0, 0, 0)
    } else {
        Utc.with_ymd_and_hms(month_start.year(), month_start.month() - 1, 1, 0, 0, 0)
    }
    .single()
    .ok_or("date")?;
    let year_ago = month_start - chrono::Duration::days(365);
    let two_years_ago = month_start - chrono::Duration::days(728);
    let period = |from: DateTime<Utc>, to: DateTime<Utc>| json!({ "from": from, "to": to });
    let summary = "query($p: PeriodInput!) { kpis(period: $p) { current { ticketsOpened ticketsResolved ticketsClosed backlog awaitingFirstResponse firstResponseSeconds { mean median p90 } resolutionSeconds { mean median p90 } firstResolutionSeconds { mean median p90 } resolutionRate reopenRate csatAverage csatCount csatSatisfiedShare interactions { count durationSeconds byChannelAndDirection { channel direction count } } } changes { metric absolute relative } } }";
    let scenarios = [
        Scenario {
            name: "kpis, one month (with its previous month)",
            from: previous_month,
            to: month_start,
            bucket: None,
            grouping: Grouping::None,
            time_zone: "UTC",
            periods: vec![(previous_month, month_start), (previous_month - (month_start - previous_month), previous_month)],
            graphql: json!({ "query": summary, "variables": { "p": period(previous_month, month_start) } }).to_string(),
        },
        Scenario {
            name: "kpis, one year (with its previous year)",
            from: year_ago,
            to: month_start,
            bucket: None,
            grouping: Grouping::None,
            time_zone: "UTC",
            periods: vec![(year_ago, month_start), (year_ago - (month_start - year_ago), year_ago)],
            graphql: json!({ "query": summary, "variables": { "p": period(year_ago, month_start) } }).to_string(),
        },
        Scenario {
            name: "kpiSeries, weekly over two years by technician",
            from: two_years_ago,
            to: month_start,
            bucket: Some(Bucket::Week),
            grouping: Grouping::Technician,
            time_zone: "UTC",
            periods: vec![(two_years_ago, month_start)],
            graphql: json!({ "query": "query($p: PeriodInput!) { kpiSeries(period: $p, bucket: WEEK, groupBy: TECHNICIAN) { starts group values { ticketsOpened ticketsResolved backlog firstResponseSeconds { median } resolutionSeconds { median p90 } csatAverage } } }", "variables": { "p": period(two_years_ago, month_start) } }).to_string(),
        },
        Scenario {
            name: "technicianPerformance (leaderboard), one month",
            from: previous_month,
            to: month_start,
            bucket: None,
            grouping: Grouping::Technician,
            time_zone: "UTC",
            periods: vec![(previous_month, month_start)],
            graphql: json!({ "query": "query($p: PeriodInput!) { technicianPerformance(period: $p) { technician { name } ticketsAssigned ticketsResolved resolutionRate firstResponseSeconds { mean median p90 } resolutionSeconds { mean median p90 } reopenRate csatAverage csatCount } }", "variables": { "p": period(previous_month, month_start) } }).to_string(),
        },
        Scenario {
            name: "kpiSeries, daily over one month by category, America/New_York",
            from: previous_month,
            to: month_start,
            bucket: Some(Bucket::Day),
            grouping: Grouping::Category,
            time_zone: "America/New_York",
            periods: vec![(previous_month, month_start)],
            graphql: json!({ "query": "query($p: PeriodInput!) { kpiSeries(period: $p, timeZone: \"America/New_York\", bucket: DAY, groupBy: CATEGORY) { starts group values { ticketsOpened ticketsResolved backlog firstResponseSeconds { median p90 } resolutionSeconds { median p90 } csatAverage } } }", "variables": { "p": period(previous_month, month_start) } }).to_string(),
        },
    ];

    let secret = "deskpulse-benchmark-secret-0123456789-abcdef";
    let jwt = JwtSettings { secret: Some(secret.parse()?), ..JwtSettings::default() };
    let keys = TokenKeys::from_settings(&jwt)?;
    let token = keys.issue("bench", Role::Supervisor, None, Duration::from_secs(3600))?;
    let settings = ServeSettings {
        server: ServerSettings {
            bind: "127.0.0.1:0".parse()?,
            graphiql: false,
            max_body_bytes: 1_048_576,
            expose_statement_count: false,
            survey_token_ttl: Duration::from_secs(3600),
            workers: Some(2),
            metrics: false,
            metrics_bind: "127.0.0.1:0".parse()?,
            survey_rate_per_address: "30/1m".parse()?,
            survey_rate_per_link: "5/1h".parse()?,
        },
        database: DatabaseSettings {
            url: url.parse()?,
            pool_size: 4,
            pool_timeout: Duration::from_secs(30),
            statement_timeout: Duration::from_secs(120),
        },
        jwt,
        reports: ReportScheduleSettings {
            enabled: false,
            time_zone: chrono_tz::UTC,
            check_interval: Duration::from_secs(300),
            delay: Duration::from_secs(3600),
        },
        limits: LimitSettings { request_timeout: Duration::from_secs(120), ..LimitSettings::default() },
        retention: deskpulse::retention::RetentionSettings::default(),
        retention_schedule: deskpulse::retention::RetentionSchedule::default(),
        kpi_blocks: deskpulse::sealer::KpiBlockSettings {
            seal_interval: Duration::from_secs(30),
            cache_mb: deskpulse::store::kpi_block_cache::DEFAULT_CAPACITY_MB,
        },
        sla_watch: deskpulse::schedule::SlaWatchSettings { enabled: false, check_interval: Duration::from_secs(30) },
        live: deskpulse::live::LiveSettings::default(),
        replicas: deskpulse::replicas::ReplicaSettings::default(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(120)).build()?;
    let address = runtime.block_on(async {
        let application = Application::build(&settings)?;
        let address = format!("http://127.0.0.1:{}", application.port());
        tokio::spawn(application.run_until_stopped());
        for _ in 0..600 {
            if client.get(format!("{address}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok::<_, Box<dyn std::error::Error>>(address);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("the server did not become ready".into())
    })?;

    let runs = std::env::var("BENCH_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(RUNS).max(1);
    // BENCH_ONLY=text keeps the scenarios whose name contains it.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    println!(
        "| question | HTTP median | HTTP p90 | engine median | engine p90 | floor median | floor p90 | cold engine median | cold engine p90 | cold floor median | cold floor p90 | MB read cold | MB read warm | MB kept | points |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for scenario in scenarios.iter().filter(|s| s.name.contains(only.as_str())) {
        let filter = KpiFilter::default();
        let queries: Vec<KpiQuery<'_>> = scenario
            .periods
            .iter()
            .map(|&(from, to)| KpiQuery {
                from,
                to,
                time_zone: scenario.time_zone,
                bucket: scenario.bucket,
                grouping: scenario.grouping,
                filter: &filter,
                count_customers: false,
            })
            .collect();
        let span_from = scenario.periods.iter().map(|p| p.0).min().ok_or("no period")?;
        let span_to = scenario.periods.iter().map(|p| p.1).max().ok_or("no period")?;
        // The floor: the statements the engine sends, their values received but not decoded;
        // then the engine. Cold, with no block kept in memory (every block sent by the
        // database); then warm, as a running server answers, its blocks kept from earlier reads.
        let bytes = std::cell::Cell::new(0);
        let mut points = 0;
        let floor = |conn: &mut PgConnection| -> Result<Duration, Box<dyn std::error::Error>> {
            let started = Instant::now();
            bytes.set(
                kpis::in_snapshot(conn, |conn| kpis::read_facts_only(conn, span_from, span_to))
                    .map_err(|err| format!("{}: {err:?}", scenario.name))?,
            );
            Ok(started.elapsed())
        };
        let mut engine = |conn: &mut PgConnection| -> Result<Duration, Box<dyn std::error::Error>> {
            let started = Instant::now();
            let results = kpis::in_snapshot(conn, |conn| kpis::compute_many(conn, &queries))
                .map_err(|err| format!("{}: {err:?}", scenario.name))?;
            points = results.iter().map(|r| r.points.len()).sum();
            Ok(started.elapsed())
        };
        kpi_block_cache::set_capacity(0);
        let cold_floor = timed(runs, || floor(&mut conn))?;
        let cold_bytes = bytes.get();
        let cold_engine = timed(runs, || engine(&mut conn))?;
        kpi_block_cache::set_capacity(kpi_block_cache::DEFAULT_CAPACITY_MB << 20);
        // The engine first: its reads keep the blocks the warm floor then finds in memory.
        let warm_engine = timed(runs, || engine(&mut conn))?;
        let warm_floor = timed(runs, || floor(&mut conn))?;
        let kept = kpi_block_cache::bytes_kept();
        let mut http = Vec::new();
        for run in 0..WARM_UP + runs {
            let started = Instant::now();
            let body: Value = runtime.block_on(async {
                client
                    .post(format!("{address}/graphql"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(scenario.graphql.clone())
                    .send()
                    .await?
                    .json::<Value>()
                    .await
            })?;
            if body.get("errors").is_some() {
                return Err(format!("{}: {body}", scenario.name).into());
            }
            if run >= WARM_UP {
                http.push(started.elapsed());
            }
        }
        let (http_median, http_p90) = stats(http);
        let (engine_median, engine_p90) = stats(warm_engine);
        let (floor_median, floor_p90) = stats(warm_floor);
        let (cold_engine_median, cold_engine_p90) = stats(cold_engine);
        let (cold_floor_median, cold_floor_p90) = stats(cold_floor);
        println!(
            "| {} ({} to {}) | {http_median:.1} ms | {http_p90:.1} ms | {engine_median:.1} ms | {engine_p90:.1} ms | {floor_median:.1} ms | {floor_p90:.1} ms | {cold_engine_median:.1} ms | {cold_engine_p90:.1} ms | {cold_floor_median:.1} ms | {cold_floor_p90:.1} ms | {:.1} | {:.1} | {:.0} | {points} |",
            scenario.name,
            scenario.from.date_naive(),
            scenario.to.date_naive(),
            cold_bytes as f64 / 1e6,
            bytes.get() as f64 / 1e6,
            kept as f64 / 1e6,
        );
    }
    Ok(())
}
