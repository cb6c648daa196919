//! The report pages (/ui/...) in a real browser: Debian's `chromium`, driven over W3C WebDriver
//! by Debian's `chromedriver` (both installed by scripts/test), against a real server over a
//! seeded database. The tests read what the page rendered and compare it with the report's JSON
//! export and the API's answers; screenshots and printed PDFs go to the test's output folder
//! (`target/tmp/ui/`). Nothing here skips: without chromedriver the tests fail.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Datelike, Utc};
use serde_json::{Value, json};

use crate::helpers::{
    HEADLESS_CHROMIUM, TestApp, TestDatabase, client, jwt_settings, serve_settings, start_server, wait_for_status,
};

// ---- A small W3C WebDriver client over reqwest -------------------------------------------------

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    profile: PathBuf,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session through it.
    async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run chromedriver (scripts/test installs Debian's chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let http = client();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(response) => response.json::<Value>().await.ok().is_some_and(|body| body["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not come up on port {port}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("deskpulse-ui-{}", uuid::Uuid::new_v4().simple()));
        let own = ["--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=en-US"];
        let mut args: Vec<String> = HEADLESS_CHROMIUM.iter().chain(&own).map(|arg| arg.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium_binary(), "args": args },
        } } });
        let mut browser = Browser { driver, base, session: String::new(), http, profile };
        let created = browser.call(reqwest::Method::POST, "/session", capabilities).await;
        browser.session = created["sessionId"].as_str().expect("a WebDriver session").to_owned();
        browser
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let mut request = self.http.request(method, &url);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|err| panic!("WebDriver {path}: {err}"));
        let status = response.status();
        let answer: Value = response.json().await.expect("a WebDriver JSON answer");
        assert!(status.is_success(), "WebDriver {path} answered {status}: {answer}");
        answer["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url })).await;
    }

    async fn run(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", json!({ "script": script, "args": [] })).await
    }

    /// Waits until the page has settled (`body[data-state]` no longer `loading`) and returns it.
    async fn settled(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = self.run("return document.body ? document.body.dataset.state : null").await;
            if let Some(state) = state.as_str().filter(|state| *state != "loading") {
                return state.to_owned();
            }
            assert!(Instant::now() < deadline, "the page did not finish drawing: {}", self.text().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self) -> String {
        self.run("return document.body ? document.body.innerText : ''").await.as_str().unwrap_or_default().to_owned()
    }

    async fn element(&self, css: &str) -> String {
        let found =
            self.call(reqwest::Method::POST, "/element", json!({ "using": "css selector", "value": css })).await;
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}")).to_owned()
    }

    async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{element}/click"), json!({})).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{element}/value"), json!({ "text": text })).await;
    }

    async fn resize(&self, width: u32, height: u32) {
        self.call(reqwest::Method::POST, "/window/rect", json!({ "width": width, "height": height })).await;
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let png = decode(&self.call(reqwest::Method::GET, "/screenshot", Value::Null).await);
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        write_output(name, &png)
    }

    /// Prints the page to PDF on a sheet of `width` x `height` centimetres.
    async fn print(&self, name: &str, width: f64, height: f64) -> Vec<u8> {
        let body =
            json!({ "page": { "width": width, "height": height }, "background": true, "orientation": "portrait" });
        let pdf = decode(&self.call(reqwest::Method::POST, "/print", body).await);
        write_output(name, &pdf);
        pdf
    }

    /// Adds `header` to every request the browser makes, as an SSO proxy in front would.
    async fn add_header_to_every_request(&self, name: &str, value: &str) {
        let cdp = |cmd: &str, params: Value| json!({ "cmd": cmd, "params": params });
        self.call(reqwest::Method::POST, "/goog/cdp/execute", cdp("Network.enable", json!({}))).await;
        self.call(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            cdp("Network.setExtraHTTPHeaders", json!({ "headers": { name: value } })),
        )
        .await;
    }

    async fn quit(mut self) {
        self.call(reqwest::Method::DELETE, "", Value::Null).await;
        self.session.clear();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // A failed test: end the session (closing Chromium) with a plain request.
            use std::io::{Read, Write};
            let address = self.base.trim_start_matches("http://").to_owned();
            if let Ok(mut stream) = std::net::TcpStream::connect(&address) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = write!(
                    stream,
                    "DELETE /session/{} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n",
                    self.session
                );
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn chromium_binary() -> &'static str {
    // Debian's /usr/bin/chromium is a wrapper script around this.
    if std::path::Path::new("/usr/lib/chromium/chromium").exists() { "/usr/lib/chromium/chromium" } else { "chromium" }
}

fn decode(value: &Value) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(value.as_str().expect("base64 text")).expect("valid base64")
}

/// The test's output folder: cargo's temporary directory for integration tests.
fn write_output(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    println!("wrote {}", path.display());
    path
}

// ---- The data: the demo set, a stored report of its last full week, an action filed from it ---

struct Seeded {
    app: TestApp,
    report_id: String,
    /// GET /export/reports/{id}.json
    report: Value,
}

async fn seeded_report() -> Seeded {
    let database = TestDatabase::empty();
    let output = Command::new(env!("CARGO_BIN_EXE_deskpulse"))
        .arg("seed")
        .env_remove("DATABASE_URL")
        .arg("--database-url")
        .arg(&database.url)
        .output()
        .unwrap();
    assert!(output.status.success(), "seed: {}", String::from_utf8_lossy(&output.stderr));
    let settings = serve_settings(&database.url);
    let address = start_server(&settings).await;
    let http = client();
    wait_for_status(&http, &format!("{address}/readyz"), 200, Duration::from_secs(30)).await;
    let app = TestApp {
        address,
        metrics_address: None,
        client: http,
        keys: deskpulse::auth::TokenKeys::from_settings(&jwt_settings()).unwrap(),
        database,
    };
    let today = Utc::now().date_naive();
    let last_monday = today - chrono::Days::new(u64::from(today.weekday().num_days_from_monday()) + 7);
    let generated = app
        .query_ok(
            &app.supervisor(),
            "mutation($start: NaiveDate!) { generateReport(kind: WEEK, periodStart: $start) { id } }",
            json!({ "start": last_monday.to_string() }),
        )
        .await;
    let report_id = generated["generateReport"]["id"].as_str().unwrap().to_owned();
    let filed = app
        .query_ok(
            &app.supervisor(),
            "mutation($input: FileImprovementActionInput!) { fileImprovementAction(input: $input) { action { id } } }",
            json!({ "input": {
                "title": "Coach the team on first replies", "kind": "TRAINING",
                "targetMetric": "FIRST_RESPONSE_SECONDS_MEDIAN", "targetValue": 1800.0,
                "owner": "sam.supervisor", "sourceReportId": report_id,
            } }),
        )
        .await;
    let action = filed["fileImprovementAction"]["action"]["id"].as_str().unwrap().to_owned();
    for status in ["IN_PROGRESS", "COMPLETED"] {
        app.query_ok(
            &app.supervisor(),
            "mutation($id: ID!, $status: ActionStatus!) { updateImprovementAction(id: $id, input: { status: $status }) { id } }",
            json!({ "id": action, "status": status }),
        )
        .await;
    }
    let report = app
        .client
        .get(format!("{}/export/reports/{report_id}.json", app.address))
        .bearer_auth(app.supervisor())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(report["snapshot"]["current"]["ticketsOpened"].as_i64().unwrap() > 0, "the seeded week has tickets");
    Seeded { app, report_id, report }
}

// ---- How the page must show numbers (docs/ui.md) -----------------------------------------------

fn thousands(value: i64) -> String {
    let digits = value.abs().to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0 { format!("-{grouped}") } else { grouped }
}

/// Asserts that `shown` is `value` written in `unit`: counts with thousands separators,
/// durations in h/min (rounded to the minute), shares in % to a tenth, CSAT out of 5.
fn assert_shown(what: &str, unit: &str, value: &Value, shown: &str) {
    let Some(number) = value.as_f64() else {
        assert_eq!(shown, "–", "{what}: no value is a dash");
        return;
    };
    match unit {
        "count" => assert_eq!(shown, thousands(number as i64), "{what}"),
        "duration" => {
            let minutes = (number / 60.0).round() as i64;
            let expected = match minutes {
                0 => "< 1 min".to_owned(),
                1..=59 => format!("{minutes} min"),
                _ => format!("{} h {:02} min", thousands(minutes / 60), minutes % 60),
            };
            assert_eq!(shown, expected, "{what}: {number} s");
        }
        "percent" => {
            let figure: f64 =
                shown.strip_suffix(" %").unwrap_or_else(|| panic!("{what}: {shown:?} in %")).parse().unwrap();
            assert!((figure - number * 100.0).abs() <= 0.050_001, "{what}: {shown} for {number}");
            assert_eq!(
                shown.split('.').nth(1).map(|decimals| decimals.len()),
                Some(3),
                "{what}: one decimal and the unit"
            );
        }
        "csat" => {
            let figure: f64 =
                shown.strip_suffix(" / 5").unwrap_or_else(|| panic!("{what}: {shown:?} out of 5")).parse().unwrap();
            assert!((figure - number).abs() <= 0.005_001, "{what}: {shown} for {number}");
        }
        other => panic!("unknown unit {other}"),
    }
}

fn unit_of(metric: &str) -> &'static str {
    if metric.contains("SECONDS") {
        "duration"
    } else if metric.ends_with("RATE") || metric.ends_with("SHARE") {
        "percent"
    } else if metric == "CSAT_AVERAGE" {
        "csat"
    } else {
        "count"
    }
}

fn share(part: &Value, whole: &Value) -> Value {
    match (part.as_f64(), whole.as_f64()) {
        (Some(part), Some(whole)) if whole > 0.0 => json!(part / whole),
        _ => Value::Null,
    }
}

/// What the report page rendered, read back from the DOM.
const READ_PAGE: &str = r#"
const cells = (selector) => [...document.querySelectorAll(selector + ' tbody tr')].map((row) =>
  Object.fromEntries([...row.children].map((cell) => [cell.dataset.key, [cell.dataset.value, cell.innerText.trim()]])));
return {
  refused: document.body.dataset.refused || null,
  cards: [...document.querySelectorAll('.card[data-metric]')].map((card) => ({
    metric: card.dataset.metric, value: card.dataset.value,
    shown: card.querySelector('.value').textContent,
    verdict: card.querySelector('.change') ? card.querySelector('.change').dataset.verdict || null : null,
  })),
  charts: Object.fromEntries([...document.querySelectorAll('svg[data-chart]')].map((svg) => [svg.dataset.chart, {
    buckets: +svg.dataset.buckets,
    points: [...svg.querySelectorAll('g.point')].map((p) => [p.dataset.series, +p.dataset.bucket, p.dataset.value]),
  }])),
  technicians: cells('#technicians'),
  technicianOrder: [...document.querySelectorAll('#technicians tbody tr')].map((row) => row.dataset.row),
  categories: cells('#categories'),
  customers: cells('#customers'),
  actions: cells('#actions'),
  headers: [...document.querySelectorAll('table.data thead th')].every((th) => th.getAttribute('scope') === 'col'),
  text: document.body.innerText,
};
"#;

/// Asserts that the page `page` (READ_PAGE's answer) shows the report `report` (its JSON
/// export) and `series` (kpiSeries of its period) with one chart point per bucket.
fn assert_page_shows_report(page: &Value, report: &Value, series: &[Value]) {
    let snapshot = &report["snapshot"];
    assert_eq!(page["refused"], Value::Null, "the CSP refused nothing");
    assert_eq!(page["headers"], true, "every column header is a th with scope=col");

    // The summary: every card is the report's figure, in its unit, with the right reading.
    let cards = page["cards"].as_array().unwrap();
    assert_eq!(cards.len(), 15, "{cards:#?}");
    for card in cards {
        let metric = card["metric"].as_str().unwrap();
        let change = snapshot["changes"].as_array().unwrap().iter().find(|c| c["metric"] == metric).unwrap();
        let shown_value: Option<f64> = card["value"].as_str().filter(|v| !v.is_empty()).map(|v| v.parse().unwrap());
        assert_eq!(shown_value, change["current"].as_f64(), "{metric}: the card's figure is the report's");
        assert_shown(metric, unit_of(metric), &change["current"], card["shown"].as_str().unwrap());
        let lower_is_better =
            deskpulse::domain::kpi::KpiMetric::ALL.iter().find(|m| m.to_string() == metric).unwrap().lower_is_better();
        let expected = change["absolute"].as_f64().map(|d| {
            if d == 0.0 {
                "same"
            } else if (d < 0.0) == lower_is_better {
                "better"
            } else {
                "worse"
            }
        });
        assert_eq!(card["verdict"].as_str(), expected, "{metric}: {change}");
    }

    // The trend: one point per bucket in every series, with the API's values.
    let buckets = series.len();
    let expect_points = |chart: &str, key: &str, value: &dyn Fn(&Value) -> Value| {
        let drawn = &page["charts"][chart];
        assert_eq!(drawn["buckets"].as_u64(), Some(buckets as u64), "{chart}");
        let points: Vec<&Value> = drawn["points"].as_array().unwrap().iter().filter(|point| point[0] == key).collect();
        assert_eq!(points.len(), buckets, "{chart}/{key}: one point per bucket");
        for (index, (point, bucket)) in points.iter().zip(series).enumerate() {
            assert_eq!(point[1].as_u64(), Some(index as u64));
            let shown: Option<f64> = point[2].as_str().filter(|v| !v.is_empty()).map(|v| v.parse().unwrap());
            assert_eq!(shown, value(&bucket["values"]).as_f64(), "{chart}/{key} bucket {index}");
        }
    };
    expect_points("volume", "ticketsOpened", &|v| v["ticketsOpened"].clone());
    expect_points("volume", "ticketsResolved", &|v| v["ticketsResolved"].clone());
    expect_points("first-response", "firstResponseMedian", &|v| v["firstResponseSeconds"]["median"].clone());
    expect_points("resolution", "resolutionMedian", &|v| v["resolutionSeconds"]["median"].clone());
    expect_points("csat", "csatAverage", &|v| v["csatAverage"].clone());

    // The technicians' table: every row of the report, its figures in their units.
    let rows = page["technicians"].as_array().unwrap();
    let expected_rows = snapshot["technicians"].as_array().unwrap();
    assert_eq!(rows.len(), expected_rows.len());
    for (row, expected) in rows.iter().zip(expected_rows) {
        let values = &expected["values"];
        let name = expected["name"].as_str().unwrap_or("Unassigned");
        assert_eq!(row["name"][1], name);
        for (key, unit, value) in [
            ("ticketsOpened", "count", values["ticketsOpened"].clone()),
            ("ticketsResolved", "count", values["ticketsResolved"].clone()),
            ("resolutionRate", "percent", share(&values["openedNowResolved"], &values["ticketsOpened"])),
            ("firstResponseMedian", "duration", values["firstResponse"]["median"].clone()),
            ("resolutionMedian", "duration", values["resolution"]["median"].clone()),
            ("reopenRate", "percent", share(&values["resolvedReopened"], &values["ticketsResolved"])),
            ("csatAverage", "csat", values["csatAverage"].clone()),
            ("csatCount", "count", values["csatCount"].clone()),
        ] {
            assert_shown(&format!("{name}/{key}"), unit, &value, row[key][1].as_str().unwrap());
        }
    }

    let categories = page["categories"].as_array().unwrap();
    let expected_categories = snapshot["topCategories"].as_array().unwrap();
    assert_eq!(categories.len(), expected_categories.len());
    assert!(!categories.is_empty(), "the seeded week has categories");
    for (row, expected) in categories.iter().zip(expected_categories) {
        assert_eq!(row["category"][1], expected["category"]);
        assert_shown("tickets", "count", &expected["tickets"], row["tickets"][1].as_str().unwrap());
        assert_shown("before", "count", &expected["previousTickets"], row["previousTickets"][1].as_str().unwrap());
    }
    let customers = page["customers"].as_array().unwrap();
    let expected_customers = snapshot["topCustomers"].as_array().unwrap();
    assert_eq!(customers.len(), expected_customers.len());
    for (row, expected) in customers.iter().zip(expected_customers) {
        assert_eq!(row["name"][1], expected["name"]);
        assert_shown("tickets", "count", &expected["tickets"], row["tickets"][1].as_str().unwrap());
    }

    let actions = page["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "the action filed from the report");
    assert_eq!(actions[0]["title"][1], "Coach the team on first replies");
    assert_eq!(actions[0]["status"][1], "completed");
    assert_eq!(actions[0]["target"][1], "30 min");
    assert!(actions[0]["outcome"][1].as_str().unwrap().contains("window still running"), "{}", actions[0]);
}

async fn trend_of(app: &TestApp, report: &Value) -> Vec<Value> {
    let data = app
        .query_ok(
            &app.supervisor(),
            "query($period: PeriodInput!) { kpiSeries(period: $period, bucket: DAY) { starts values { \
             ticketsOpened ticketsResolved firstResponseSeconds { median } resolutionSeconds { median } csatAverage } } }",
            json!({ "period": { "from": report["periodStart"], "to": report["periodEnd"] } }),
        )
        .await;
    data["kpiSeries"].as_array().unwrap().clone()
}

// ---- The tests ---------------------------------------------------------------------------------

#[tokio::test]
async fn report_page_in_chromium_shows_the_reports_figures_with_a_point_per_bucket_and_prints() {
    let Seeded { app, report_id, report } = seeded_report().await;
    let series = trend_of(&app, &report).await;
    assert_eq!(series.len(), 7, "a week by day");

    let browser = Browser::start().await;
    browser.resize(1280, 3200).await;
    let token = app.supervisor();
    browser.open(&format!("{}/ui/reports/{report_id}#token={token}", app.address)).await;
    assert_eq!(browser.settled().await, "ready", "{}", browser.text().await);
    let page = browser.run(READ_PAGE).await;
    assert_page_shows_report(&page, &report, &series);

    // The token left the address bar for this tab's storage.
    assert_eq!(browser.run("return location.hash").await, "");
    assert_eq!(browser.run("return sessionStorage.getItem('deskpulse.token')").await, token);

    // The technicians' table sorts: by tickets resolved, most first, then fewest first.
    let resolved_order = |page: &Value, descending: bool| {
        let mut values: Vec<i64> = page["technicians"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["ticketsResolved"][0].as_str().unwrap().parse().unwrap())
            .collect();
        let shown = values.clone();
        values.sort_unstable();
        if descending {
            values.reverse();
        }
        shown == values
    };
    browser.click("#technicians th[data-key='ticketsResolved'] button").await;
    let sorted = browser.run(READ_PAGE).await;
    assert!(resolved_order(&sorted, true), "{:?}", sorted["technicians"]);
    assert_eq!(
        browser.run("return document.querySelector(\"#technicians th[data-key='ticketsResolved']\").getAttribute('aria-sort')").await,
        "descending"
    );
    browser.click("#technicians th[data-key='ticketsResolved'] button").await;
    assert!(resolved_order(&browser.run(READ_PAGE).await, false));

    let screenshot = browser.screenshot("report-page.png").await;
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 20_000, "a screenshot of a drawn page");

    // Printing: A4 and Letter, each a PDF of a few pages, charts included.
    for (name, width, height) in [("report-a4.pdf", 21.0, 29.7), ("report-letter.pdf", 21.59, 27.94)] {
        let pdf = browser.print(name, width, height).await;
        assert!(pdf.starts_with(b"%PDF"), "{name} is a PDF");
        let pages =
            pdf.windows(b"/Type /Page\n".len()).filter(|w| w.starts_with(b"/Type /Page") && w[11] != b's').count();
        assert!((1..=4).contains(&pages), "{name}: {pages} pages");
    }
    browser.quit().await;
}

#[tokio::test]
async fn the_page_holds_no_data_asks_for_a_token_once_and_takes_a_proxys_header() {
    let Seeded { app, report_id, report } = seeded_report().await;
    let path = format!("/ui/reports/{report_id}");

    // The HTML is the same shell whoever asks, and holds none of the report's data.
    let anonymous = app.get(&path).await;
    assert_eq!(anonymous.status(), 200);
    let headers = anonymous.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap().to_owned();
    for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.split(';').any(|d| d.trim() == directive), "{directive:?} not in {csp:?}");
    }
    assert!(!csp.contains("unsafe") && !csp.contains("http"), "{csp}");
    assert_eq!(headers["cache-control"], "no-store");
    let html = anonymous.text().await.unwrap();
    let signed_in = app
        .client
        .get(format!("{}{path}", app.address))
        .bearer_auth(app.supervisor())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(html, signed_in, "the page is the same shell with a token");
    for customer in report["snapshot"]["topCustomers"].as_array().unwrap() {
        assert!(!html.contains(customer["name"].as_str().unwrap()), "no customer in the HTML");
    }
    for technician in report["snapshot"]["technicians"].as_array().unwrap() {
        if let Some(name) = technician["name"].as_str() {
            assert!(!html.contains(name), "no technician in the HTML");
        }
    }
    assert!(!html.contains("report-data") && !html.contains("<script>"), "no data block, no inline script");
    assert_eq!(app.get("/ui/reports/1x").await.status(), 404);
    assert_eq!(app.get("/ui/assets/nope.js").await.status(), 404);

    // Without a token the browser asks for one, and shows nothing else.
    let browser = Browser::start().await;
    browser.open(&format!("{}{path}", app.address)).await;
    assert_eq!(browser.settled().await, "signin");
    assert_eq!(browser.run("return document.querySelectorAll('[data-metric], table').length").await, 0);
    browser.type_into("#token", &app.supervisor()).await;
    browser.click("form.signin button[type=submit]").await;
    assert_eq!(browser.settled().await, "ready", "{}", browser.text().await);
    assert_eq!(browser.run("return document.querySelectorAll('.card[data-metric]').length").await, 15);
    // Once: the tab keeps it for the next page.
    browser.open(&format!("{}/ui/reports", app.address)).await;
    assert_eq!(browser.settled().await, "ready", "{}", browser.text().await);
    let listed =
        browser.run("return [...document.querySelectorAll('#reports tbody tr')].map((r) => r.dataset.row)").await;
    assert_eq!(listed, json!([report_id]));
    browser.quit().await;

    // Behind an SSO proxy that adds the Authorization header, no token is asked for.
    let browser = Browser::start().await;
    browser.add_header_to_every_request("Authorization", &format!("Bearer {}", app.supervisor())).await;
    browser.open(&format!("{}{path}", app.address)).await;
    assert_eq!(browser.settled().await, "ready", "{}", browser.text().await);
    assert_eq!(browser.run("return sessionStorage.getItem('deskpulse.token')").await, Value::Null);
    assert_eq!(browser.run("return document.getElementById('sign-out').hidden").await, true);
    browser.quit().await;
}

#[tokio::test]
async fn a_technician_sees_only_their_own_figures() {
    let Seeded { app, report_id, report } = seeded_report().await;
    let technicians = report["snapshot"]["technicians"].as_array().unwrap();
    let me = technicians.iter().find(|row| row["technicianId"].is_i64()).unwrap();
    let my_id = me["technicianId"].as_i64().unwrap();
    let my_name = me["name"].as_str().unwrap();
    let token = app.technician_token("tina.technician", my_id);

    let browser = Browser::start().await;
    browser.open(&format!("{}/ui/reports/{report_id}#token={token}", app.address)).await;
    assert_eq!(browser.settled().await, "forbidden", "{}", browser.text().await);
    assert_eq!(browser.run("return document.querySelectorAll('[data-metric], table').length").await, 0);

    browser.open(&format!("{}/ui/live?tz=UTC", app.address)).await;
    assert_eq!(browser.settled().await, "ready", "{}", browser.text().await);
    let text = browser.text().await;
    assert!(text.contains(my_name), "{text}");
    for other in technicians.iter().filter_map(|row| row["name"].as_str()).filter(|name| *name != my_name) {
        assert!(!text.contains(other), "{other} on {my_name}'s page: {text}");
    }
    let page = browser.run(READ_PAGE).await;
    assert_eq!(page["refused"], Value::Null);
    // Their own figures: those the API gives the technician for the week so far.
    let today = Utc::now().date_naive();
    let monday = today - chrono::Days::new(u64::from(today.weekday().num_days_from_monday()));
    let from = monday.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let own = app
        .query_ok(
            &token,
            "query($period: PeriodInput!) { me { technician { performance(period: $period) { values { ticketsOpened ticketsResolved } } } } }",
            json!({ "period": { "from": from, "to": Utc::now() } }),
        )
        .await;
    let values = &own["me"]["technician"]["performance"]["values"];
    let card = |metric: &str| {
        page["cards"].as_array().unwrap().iter().find(|card| card["metric"] == metric).unwrap()["value"].clone()
    };
    assert_eq!(card("TICKETS_OPENED"), values["ticketsOpened"].to_string());
    assert_eq!(card("TICKETS_RESOLVED"), values["ticketsResolved"].to_string());
    let days = today.weekday().num_days_from_monday() as usize + 1;
    assert_eq!(page["charts"]["volume"]["buckets"].as_u64(), Some(days as u64), "one bucket per day so far");
    browser.quit().await;
}

#[tokio::test]
async fn live_page_shows_the_week_so_far_for_a_supervisor() {
    let Seeded { app, .. } = seeded_report().await;
    let browser = Browser::start().await;
    browser.open(&format!("{}/ui/live?tz=UTC#token={}", app.address, app.supervisor())).await;
    assert_eq!(browser.settled().await, "ready", "{}", browser.text().await);
    let page = browser.run(READ_PAGE).await;
    assert_eq!(page["refused"], Value::Null);
    assert_eq!(page["cards"].as_array().unwrap().len(), 15);
    let days = Utc::now().date_naive().weekday().num_days_from_monday() as u64 + 1;
    for chart in ["volume", "first-response", "resolution", "csat"] {
        assert_eq!(page["charts"][chart]["buckets"].as_u64(), Some(days), "{chart}");
    }
    browser.quit().await;
}

#[tokio::test]
async fn report_show_writes_one_self_contained_page_that_draws_the_same_offline() {
    let Seeded { app, report_id, report } = seeded_report().await;
    let series = trend_of(&app, &report).await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("report-{}.html", uuid::Uuid::new_v4().simple()));
    let show = |format: &str, output: Option<&PathBuf>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_deskpulse"));
        command.args(["report", "show", &report_id, "--format", format]).env_remove("DATABASE_URL");
        command.arg("--database-url").arg(&app.database.url);
        if let Some(output) = output {
            command.arg("--output").arg(output);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(show("html", Some(&file)), "");
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(!html.contains("src=\"/") && !html.contains("href=\"/ui/assets"), "nothing to load");

    // The JSON and CSV beside it are the exports'.
    let json_shown: Value = serde_json::from_str(&show("json", None)).unwrap();
    assert_eq!(json_shown, report);
    let csv = app
        .client
        .get(format!("{}/export/reports/{report_id}.csv", app.address))
        .bearer_auth(app.supervisor())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(show("csv", None), csv);

    let browser = Browser::start().await;
    browser.resize(1280, 3200).await;
    browser.open(&format!("file://{}", file.display())).await;
    assert_eq!(browser.settled().await, "ready", "{}", browser.text().await);
    let page = browser.run(READ_PAGE).await;
    assert_page_shows_report(&page, &report, &series);
    let pdf = browser.print("report-file-a4.pdf", 21.0, 29.7).await;
    assert!(pdf.starts_with(b"%PDF"));
    browser.quit().await;
    let _ = std::fs::remove_file(&file);
}
