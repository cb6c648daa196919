//! The test harness: `spawn_app()` gives each test its own database and server.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use deskpulse::auth::{Role, TokenKeys};
use deskpulse::config::{DatabaseSettings, JwtSettings, LimitSettings, Secret, ServerSettings};
use deskpulse::retention::{RetentionSchedule, RetentionSettings};
use deskpulse::schedule::ReportScheduleSettings;
use deskpulse::startup::{Application, ServeSettings};
use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};
use serde_json::{Value, json};

pub const TEST_SECRET: &str = "deskpulse-test-secret-0123456789-abcdefghijklmnop";

/// The server the tests use: DATABASE_URL's, as scripts/test sets it, without TLS unless the URL
/// asks for an `sslmode`. The in-process test servers' pools outlive their tests (actix runs its
/// workers on threads of its own), and OpenSSL's clean-up at process exit, racing a pool thread
/// still using a TLS connection, crashed the test binary after every test had passed (SIGSEGV,
/// about one run in twenty).
pub fn database_url() -> String {
    let url =
        std::env::var("DATABASE_URL").expect("DATABASE_URL must point at a PostgreSQL server (scripts/test sets it)");
    if url.contains("sslmode=") {
        url
    } else {
        format!("{url}{}sslmode=disable", if url.contains('?') { '&' } else { '?' })
    }
}

/// `url` with its database name replaced by `database`.
pub fn url_for_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |index| index + 3);
    let path_start = base[scheme_end..].find('/').map_or(base.len(), |index| scheme_end + index);
    let mut result = format!("{}/{}", &base[..path_start], database);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

fn admin_connection() -> PgConnection {
    let url = url_for_database(&database_url(), "postgres");
    PgConnection::establish(&url).expect("connect to the postgres maintenance database")
}

/// A stable fingerprint of the migrations, so a changed migration gets a new template.
fn migrations_fingerprint() -> String {
    let mut paths: Vec<_> = walk(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")));
    paths.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for path in paths {
        let bytes = std::fs::read(&path).expect("read a migration file");
        for byte in path.to_string_lossy().bytes().chain(bytes) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read the migrations folder").flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

/// Creates (once, across concurrent test processes) a database with every migration applied.
fn template_database() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let name = format!("deskpulse_template_{}", migrations_fingerprint());
        let mut admin = admin_connection();
        diesel::sql_query("SELECT pg_advisory_lock(727272)").execute(&mut admin).expect("lock");
        let exists: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
            "EXISTS (SELECT 1 FROM pg_database WHERE datname = '{name}')"
        )))
        .get_result(&mut admin)
        .expect("look up the template");
        if !exists {
            let building = format!("{name}_building");
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)")).execute(&mut admin).unwrap();
            diesel::sql_query(format!("CREATE DATABASE {building}")).execute(&mut admin).unwrap();
            {
                let mut conn = PgConnection::establish(&url_for_database(&database_url(), &building)).unwrap();
                deskpulse::db::run_migrations(&mut conn).expect("migrate the template database");
            }
            diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}")).execute(&mut admin).unwrap();
        }
        diesel::sql_query("SELECT pg_advisory_unlock(727272)").execute(&mut admin).expect("unlock");
        name
    })
}

/// A database of its own for one test, dropped when the test ends.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// A migrated database, cloned from the template.
    pub fn migrated() -> TestDatabase {
        Self::create(Some(template_database()))
    }

    /// A database with nothing in it.
    pub fn empty() -> TestDatabase {
        Self::create(None)
    }

    fn create(template: Option<&str>) -> TestDatabase {
        let name = format!("deskpulse_test_{}", uuid::Uuid::new_v4().simple());
        let template = template.map(|t| format!(" TEMPLATE {t}")).unwrap_or_default();
        diesel::sql_query(format!("CREATE DATABASE {name}{template}")).execute(&mut admin_connection()).unwrap();
        let url = url_for_database(&database_url(), &name);
        TestDatabase { name, url }
    }

    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
            .execute(&mut admin_connection());
    }
}

pub fn jwt_settings() -> JwtSettings {
    JwtSettings { secret: Some(TEST_SECRET.parse().unwrap()), ..JwtSettings::default() }
}

pub fn serve_settings(database_url: &str) -> ServeSettings {
    ServeSettings {
        server: ServerSettings {
            bind: "127.0.0.1:0".parse().unwrap(),
            graphiql: true,
            max_body_bytes: 1_048_576,
            expose_statement_count: true,
            survey_token_ttl: Duration::from_secs(3600),
            workers: Some(2),
            metrics: true,
            metrics_bind: "127.0.0.1:0".parse().unwrap(),
            survey_rate_per_address: "30/1m".parse().unwrap(),
            survey_rate_per_link: "5/1h".parse().unwrap(),
        },
        database: DatabaseSettings {
            url: database_url.parse::<Secret>().unwrap(),
            pool_size: 8,
            pool_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
        },
        jwt: jwt_settings(),
        // Tests that need the scheduler turn it on.
        reports: ReportScheduleSettings {
            enabled: false,
            time_zone: chrono_tz::UTC,
            check_interval: Duration::from_secs(300),
            delay: Duration::from_secs(3600),
        },
        limits: LimitSettings::default(),
        retention: RetentionSettings::default(),
        retention_schedule: RetentionSchedule::default(),
        // Often, so that KPI answers in tests also come from sealed blocks.
        kpi_blocks: deskpulse::sealer::KpiBlockSettings {
            seal_interval: Duration::from_secs(1),
            cache_mb: deskpulse::store::kpi_block_cache::DEFAULT_CAPACITY_MB,
        },
        // Tests that need the SLA watch turn it on.
        sla_watch: deskpulse::schedule::SlaWatchSettings { enabled: false, check_interval: Duration::from_secs(30) },
        live: deskpulse::live::LiveSettings::default(),
        replicas: deskpulse::replicas::ReplicaSettings::default(),
    }
}

pub struct TestApp {
    pub address: String,
    /// The metrics listener's base address (`DESKPULSE_METRICS_BIND`), when metrics are on.
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    pub keys: TokenKeys,
    pub database: TestDatabase,
}

/// A server on a free port over a fresh migrated database, ready to answer.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with `configure` applied to the server's settings first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeSettings)) -> TestApp {
    let database = TestDatabase::migrated();
    let mut settings = serve_settings(&database.url);
    configure(&mut settings);
    let (address, metrics_address) = start_servers(&settings).await;
    let app = TestApp {
        address,
        metrics_address,
        client: client(),
        keys: TokenKeys::from_settings(&settings.jwt).unwrap(),
        database,
    };
    app.wait_until_ready(Duration::from_secs(30)).await;
    app
}

/// Starts a server with `settings` and returns its base address (it may not be ready yet).
pub async fn start_server(settings: &ServeSettings) -> String {
    start_servers(settings).await.0
}

/// Like [`start_server`], also returning the metrics listener's address (when metrics are on).
pub async fn start_servers(settings: &ServeSettings) -> (String, Option<String>) {
    let application = Application::build(settings).expect("build the application");
    let address = format!("http://127.0.0.1:{}", application.port());
    let metrics = application.metrics_port().map(|port| format!("http://127.0.0.1:{port}"));
    tokio::spawn(application.run_until_stopped());
    (address, metrics)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build().unwrap()
}

impl TestApp {
    pub fn token(&self, role: Role, subject: &str) -> String {
        self.keys.issue(subject, role, None, Duration::from_secs(3600)).unwrap()
    }

    pub fn technician_token(&self, subject: &str, technician_id: i64) -> String {
        self.keys.issue(subject, Role::Technician, Some(technician_id), Duration::from_secs(3600)).unwrap()
    }

    pub fn admin(&self) -> String {
        self.token(Role::Admin, "ada.admin")
    }

    pub fn supervisor(&self) -> String {
        self.token(Role::Supervisor, "sam.supervisor")
    }

    /// Posts one GraphQL operation and returns the HTTP status and the JSON body.
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        let mut request = self.client.post(format!("{}/graphql", self.address)).json(&json!({
            "query": query,
            "variables": variables,
        }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("send the GraphQL request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    /// Like [`graphql`](Self::graphql), but fails the test on any error and returns `data`.
    pub async fn query_ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql(Some(token), query, variables).await;
        assert_eq!(status, 200, "unexpected status, body: {body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Like [`graphql`](Self::graphql), but expects exactly one error and returns its code.
    pub async fn query_error(&self, token: &str, query: &str, variables: Value) -> (String, Value) {
        let (status, body) = self.graphql(Some(token), query, variables).await;
        assert_eq!(status, 200, "unexpected status, body: {body}");
        let codes = error_codes(&body);
        assert_eq!(codes.len(), 1, "expected one error: {body}");
        (codes[0].clone(), body["errors"][0].clone())
    }

    /// Asserts that the KPI fact rows the triggers keep agree with the records (what `deskpulse
    /// kpi verify` checks).
    pub fn assert_kpi_facts_verify_clean(&self) {
        let drift = deskpulse::store::kpi_facts::verify(&mut self.database.connect()).expect("verify the KPI facts");
        assert!(drift.is_clean(), "the KPI facts drifted: {drift:?}");
    }

    /// A number from SQL run straight against the test's database.
    pub fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(format!("SELECT ({sql})::bigint AS n"))
            .get_result::<Row>(&mut self.database.connect())
            .expect("run the counting query")
            .n
    }

    /// Creates a technician (as ADMIN) and returns its id.
    pub async fn create_technician(&self, name: &str, team: &str) -> i64 {
        let email = format!("{}@example.test", name.to_lowercase().replace(' ', "."));
        let data = self
            .query_ok(
                &self.admin(),
                "mutation($input: CreateTechnicianInput!) { createTechnician(input: $input) { id } }",
                json!({ "input": { "name": name, "email": email, "team": team } }),
            )
            .await;
        data["createTechnician"]["id"].as_str().unwrap().parse().unwrap()
    }

    /// Creates a customer and returns its id.
    pub async fn create_customer(&self, name: &str) -> i64 {
        let data = self
            .query_ok(
                &self.supervisor(),
                "mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }",
                json!({ "input": { "name": name } }),
            )
            .await;
        data["createCustomer"]["id"].as_str().unwrap().parse().unwrap()
    }

    /// Creates a ticket with `input` (merged over sensible defaults) as `token`'s caller and
    /// returns it (id, number, status, version).
    pub async fn create_ticket(&self, token: &str, customer_id: i64, input: Value) -> Value {
        let mut full = json!({
            "customerId": customer_id.to_string(),
            "subject": "Printer offline",
            "category": "hardware",
            "channel": "PHONE",
        });
        for (key, value) in input.as_object().expect("an object").iter() {
            full[key] = value.clone();
        }
        let data = self
            .query_ok(
                token,
                "mutation($input: CreateTicketInput!) { createTicket(input: $input) { id number status version } }",
                json!({ "input": full }),
            )
            .await;
        data["createTicket"].clone()
    }

    /// GET on the metrics listener.
    pub async fn get_metrics(&self, path: &str) -> reqwest::Response {
        let address = self.metrics_address.as_deref().expect("metrics are on");
        self.client.get(format!("{address}{path}")).send().await.expect("send the request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.expect("send the request")
    }

    pub async fn wait_until_ready(&self, timeout: Duration) {
        wait_for_status(&self.client, &format!("{}/readyz", self.address), 200, timeout).await;
    }
}

/// How long a test waits for something the server does in the background before it fails: far
/// longer than it takes on a loaded machine, so only a condition that never comes fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `condition` until it holds; panics naming `what` after [`PATIENCE`]. For waiting on a
/// condition rather than asserting how long something took.
pub async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if condition().await {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: not within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the unlabelled counter `name` at the /metrics of the metrics listener at
/// `address` (`DESKPULSE_METRICS_BIND`: [`start_servers`] gives it).
pub async fn counter(client: &reqwest::Client, address: &str, name: &str) -> u64 {
    let text = client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .expect("read /metrics")
        .text()
        .await
        .expect("a metrics body");
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no counter {name} at {address}/metrics"))
}

/// Waits until the counter `name` of the server at `address` reaches `at_least`.
pub async fn wait_for_counter(client: &reqwest::Client, address: &str, name: &str, at_least: u64) {
    wait_until(&format!("{name} reaches {at_least} at {address}"), || async move {
        counter(client, address, name).await >= at_least
    })
    .await;
}

/// Waits until the scheduler of the server at `address` has finished `passes` more passes than
/// it had: a positive sign that it looked, before asserting that it found nothing to do.
pub async fn wait_for_scheduler_passes(client: &reqwest::Client, address: &str, passes: u64) {
    const PASSES: &str = "deskpulse_scheduler_passes_total";
    let target = counter(client, address, PASSES).await + passes;
    wait_for_counter(client, address, PASSES, target).await;
}

/// Polls `url` until it answers `status`; panics after `timeout`.
pub async fn wait_for_status(client: &reqwest::Client, url: &str, status: u16, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status().as_u16() == status
        {
            return;
        }
        assert!(Instant::now() < deadline, "{url} did not answer {status} within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `extensions.code` of each error in a GraphQL response.
pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned()).collect())
        .unwrap_or_default()
}

/// An ACCESS EXCLUSIVE lock on a table, held by a connection of its own until released: every
/// statement of the server that touches the table waits for it. A slow query without any
/// test-only code in the server.
pub struct TableLock {
    conn: PgConnection,
}

impl TableLock {
    pub fn take(database: &TestDatabase, table: &str) -> TableLock {
        TableLock::take_at(&database.url, table)
    }

    /// The same on the database at `url`.
    pub fn take_at(url: &str, table: &str) -> TableLock {
        use diesel::connection::SimpleConnection;
        let mut conn = PgConnection::establish(url).expect("connect to lock a table");
        conn.batch_execute(&format!("BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")).expect("lock the table");
        TableLock { conn }
    }

    pub fn release(mut self) {
        use diesel::connection::SimpleConnection;
        self.conn.batch_execute("ROLLBACK").expect("release the lock");
    }
}

/// Waits until `count` sessions on `database` wait for a lock (the server's statements queued
/// behind a [`TableLock`]); panics after 20 seconds.
pub async fn wait_for_lock_waiters(database: &TestDatabase, count: i64) {
    wait_for_lock_waiters_at(&database.url, count).await;
}

/// The same on the database at `url`.
pub async fn wait_for_lock_waiters_at(url: &str, count: i64) {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut conn = PgConnection::establish(url).expect("connect to watch for lock waits");
    loop {
        let waiting = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .get_result::<Row>(&mut conn)
        .expect("read pg_stat_activity")
        .n;
        if waiting >= count {
            return;
        }
        assert!(Instant::now() < deadline, "{waiting} of {count} statements are waiting for the lock");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every row count of the application's tables, to show that a request changed nothing.
pub fn table_counts(database: &TestDatabase) -> Vec<(String, i64)> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = database.connect();
    let tables = diesel::sql_query(
        "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '\\_\\_%' ORDER BY 1",
    )
    .load::<Row>(&mut conn)
    .expect("list the tables");
    assert!(tables.len() >= 5, "the application's tables: {}", tables.len());
    tables
        .into_iter()
        .map(|table| {
            let n = diesel::sql_query(format!("SELECT count(*) AS n FROM \"{}\"", table.name))
                .get_result::<Count>(&mut conn)
                .expect("count a table")
                .n;
            (table.name, n)
        })
        .collect()
}

/// How the tests start Debian's Chromium: headless, as root, and without the background
/// connections this machine's closed network refuses.
pub const HEADLESS_CHROMIUM: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];
