//! GET /ui/...: the report pages for team meetings (docs/ui.md). Every page path answers the same
//! shell, which holds no data whoever asks: its script signs in and reads the figures from
//! /graphql like any other client. The script and stylesheet are compiled into the binary.

use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};

/// Scripts and styles from this server only (no inline script, no eval), charts drawn as inline
/// SVG by the script, requests to this server only, and no framing, forms or `<base>` that could
/// send the token elsewhere.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/ui", web::get().to(home))
        .route("/ui/", web::get().to(home))
        .route("/ui/reports", web::get().to(page))
        .route("/ui/reports/{id}", web::get().to(report_page))
        .route("/ui/live", web::get().to(page))
        .route("/ui/assets/{name}", web::get().to(asset));
}

async fn home() -> HttpResponse {
    HttpResponse::Found().insert_header((LOCATION, "/ui/reports")).finish()
}

async fn page() -> HttpResponse {
    super::token_page(CONTENT_SECURITY_POLICY_VALUE, crate::ui::served_page())
}

async fn report_page(request: HttpRequest) -> HttpResponse {
    let id = request.match_info().get("id").unwrap_or_default();
    if id.is_empty() || id.len() > 19 || !id.bytes().all(|byte| byte.is_ascii_digit()) {
        return HttpResponse::NotFound().finish();
    }
    page().await
}

async fn asset(request: HttpRequest) -> HttpResponse {
    let (content_type, body) = match request.match_info().get("name").unwrap_or_default() {
        "ui.js" => ("text/javascript; charset=utf-8", crate::ui::SCRIPT),
        "ui.css" => ("text/css; charset=utf-8", crate::ui::STYLE),
        _ => return HttpResponse::NotFound().finish(),
    };
    // Unversioned names: the browser asks again each time, so a new binary's script is used.
    HttpResponse::Ok().content_type(content_type).insert_header((CACHE_CONTROL, "no-cache")).body(body)
}
