//! Response headers: `nosniff` on every answer, and the GraphiQL page served from the binary
//! (pinned assets, nothing from a CDN) under a strict Content-Security-Policy.

use serde_json::json;

use crate::helpers::{HEADLESS_CHROMIUM, spawn_app};

#[tokio::test]
async fn every_response_says_nosniff() {
    let app = spawn_app().await;
    let mut responses = vec![app.get("/healthz").await, app.get("/readyz").await, app.get("/no/such/path").await];
    responses.push(app.get("/graphiql").await);
    responses.push(
        app.client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(app.supervisor())
            .json(&json!({ "query": "{ me { subject } }" }))
            .send()
            .await
            .unwrap(),
    );
    responses.push(app.client.post(format!("{}/graphql", app.address)).body("not json").send().await.unwrap());
    for response in responses {
        let url = response.url().to_string();
        assert_eq!(
            response.headers().get("x-content-type-options").map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{url}"
        );
    }
}

/// The `src`/`href` values of `<script>` and `<link>` tags, with their `integrity`.
fn assets(html: &str) -> Vec<(String, Option<String>)> {
    let attribute = |tag: &str, name: &str| {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        Some(tag[start..].split('"').next()?.to_owned())
    };
    html.split('<')
        .filter(|tag| tag.starts_with("script") || tag.starts_with("link"))
        .filter_map(|tag| {
            let tag = tag.split('>').next()?;
            let url = attribute(tag, "src").or_else(|| attribute(tag, "href"))?;
            Some((url, attribute(tag, "integrity")))
        })
        .collect()
}

fn sha384_base64(bytes: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(bytes)))
}

#[tokio::test]
async fn graphiql_loads_pinned_assets_from_the_server_under_a_strict_csp() {
    let app = spawn_app().await;
    let page = app.get("/graphiql").await;
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap().to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ] {
        assert!(csp.split(';').any(|d| d.trim() == directive), "{directive:?} not in {csp:?}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval") && !csp.contains("http"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(!html.contains("unpkg") && !html.contains("://"), "nothing from elsewhere: {html}");
    assert!(!html.contains("<script>"), "no inline script (the CSP would block it): {html}");

    let assets = assets(&html);
    assert_eq!(assets.len(), 5, "React, ReactDOM, GraphiQL's script and style, the start-up script: {assets:?}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/graphiql");
    for (url, integrity) in assets {
        assert!(url.starts_with("/graphiql/assets/"), "{url}");
        let response = app.get(&url).await;
        assert_eq!(response.status(), 200, "{url}");
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        let expected = if url.ends_with(".css") { "text/css" } else { "text/javascript" };
        assert!(content_type.starts_with(expected), "{url}: {content_type}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let body = response.bytes().await.unwrap();
        let file = std::fs::read(dir.join(url.trim_start_matches("/graphiql/assets/"))).unwrap();
        assert!(body == file, "{url} is the committed file");
        assert_eq!(integrity, Some(sha384_base64(&file)), "{url}: the integrity attribute matches");
    }
    assert_eq!(app.get("/graphiql/assets/../../Cargo.toml").await.status(), 404);
    assert_eq!(app.get("/graphiql/assets/nope.js").await.status(), 404);
}

/// What headless Chromium (Debian's `chromium`, which `scripts/test` installs) made of a page: the
/// DOM after its scripts ran, and the browser's log (console messages, refused loads).
fn open_in_chromium(url: &str) -> (String, String) {
    let profile = tempfile_dir("deskpulse-chromium");
    let output = std::process::Command::new("chromium")
        .args(HEADLESS_CHROMIUM)
        .args(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .expect("run chromium (scripts/test installs Debian's chromium)");
    let _ = std::fs::remove_dir_all(&profile);
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn tempfile_dir(prefix: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{}", std::process::id(), uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn graphiql_renders_in_a_real_browser_under_its_csp() {
    let app = spawn_app().await;
    let url = format!("{}/graphiql", app.address);
    let (dom, log) = tokio::task::spawn_blocking(move || open_in_chromium(&url)).await.unwrap();
    for part in ["graphiql-container", "graphiql-execute-button", "graphiql-editor"] {
        assert!(dom.contains(part), "GraphiQL rendered no {part}: {dom}\n{log}");
    }
    let refused: Vec<&str> =
        log.lines().filter(|line| line.contains("Content Security Policy") || line.contains("Refused to")).collect();
    assert!(refused.is_empty(), "the browser refused parts of the page: {refused:#?}");
}
