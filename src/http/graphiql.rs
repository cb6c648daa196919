//! GET /graphiql: the in-browser IDE, where users paste bearer tokens. Its page and assets are
//! compiled into the binary at pinned versions (assets/graphiql/README.md says where they came
//! from), so nothing is loaded from a CDN, and the page is served under a policy that lets it
//! run only those scripts and talk only to this server.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{HttpRequest, HttpResponse, web};

/// The page's policy: scripts and styles from this server only (no inline script, no eval),
/// requests to this server only, fonts and icons inlined by GraphiQL's stylesheet as data URLs,
/// and no framing, forms or `<base>` that could send a pasted token elsewhere.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'none'";

const PAGE: &[u8] = include_bytes!("../../assets/graphiql/index.html");

/// A file the page loads: its name under /graphiql/assets/, content type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    /// The name carries the version, so a browser may keep the file for good.
    versioned: bool,
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

const ASSETS: [Asset; 5] = [
    Asset {
        name: "react-18.3.1.production.min.js",
        content_type: JAVASCRIPT,
        bytes: include_bytes!("../../assets/graphiql/react-18.3.1.production.min.js"),
        versioned: true,
    },
    Asset {
        name: "react-dom-18.3.1.production.min.js",
        content_type: JAVASCRIPT,
        bytes: include_bytes!("../../assets/graphiql/react-dom-18.3.1.production.min.js"),
        versioned: true,
    },
    Asset {
        name: "graphiql-4.1.2.min.js",
        content_type: JAVASCRIPT,
        bytes: include_bytes!("../../assets/graphiql/graphiql-4.1.2.min.js"),
        versioned: true,
    },
    Asset {
        name: "graphiql-4.1.2.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/graphiql/graphiql-4.1.2.min.css"),
        versioned: true,
    },
    Asset {
        name: "graphiql-init.js",
        content_type: JAVASCRIPT,
        bytes: include_bytes!("../../assets/graphiql/graphiql-init.js"),
        versioned: false,
    },
];

pub fn routes(config: &mut web::ServiceConfig) {
    config.route("/graphiql", web::get().to(page)).route("/graphiql/assets/{name}", web::get().to(asset));
}

async fn page() -> HttpResponse {
    super::token_page(CONTENT_SECURITY_POLICY_VALUE, PAGE)
}

async fn asset(request: HttpRequest) -> HttpResponse {
    let name = request.match_info().get("name").unwrap_or_default();
    match ASSETS.iter().find(|asset| asset.name == name) {
        Some(asset) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .insert_header((
                CACHE_CONTROL,
                if asset.versioned { "public, max-age=31536000, immutable" } else { "no-cache" },
            ))
            .body(asset.bytes),
        None => HttpResponse::NotFound().finish(),
    }
}
