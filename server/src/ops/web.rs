//! The browser client: the files of `assets/web/`, embedded in the binary, served at `/`
//! (the page) and `/web/<file>` (its styles, scripts and icon). The page speaks only the
//! public game protocol, to the game socket (`ws://<host>:7878/ws`, or `?ws=<url>`).
//! `/review` is the operators' risk review page: it calls the ops API of this same
//! origin with the ops token typed into it.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file of the client.
struct Asset {
    /// Its name under `/web/`.
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_str!(concat!("../../../assets/web/", $name)),
        }
    };
}

/// Every file of `assets/web/`; a file added there must be listed here too.
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("app.css", CSS),
    asset!("app.js", JS),
    asset!("net.js", JS),
    asset!("text.js", JS),
    asset!("art.js", JS),
    asset!("dom.js", JS),
    asset!("views.js", JS),
    asset!("rain.js", JS),
    asset!("favicon.svg", SVG),
    asset!("review.html", HTML),
    asset!("review.css", CSS),
    asset!("review.js", JS),
];

/// The page may load only its own files and open WebSockets (the game socket is on
/// another port, so `'self'` alone would not cover it).
const PAGE_POLICY: &str = "default-src 'self'; connect-src 'self' ws: wss:; \
    img-src 'self' data:; style-src 'self'; script-src 'self'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The client's routes, merged into the ops router.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/review", get(review_page))
        .route("/web/{file}", get(file))
}

async fn page() -> Response {
    serve("index.html")
}

/// The operators' risk review page; it calls the ops API with the token typed into it.
async fn review_page() -> Response {
    serve("review.html")
}

async fn file(Path(name): Path<String>) -> Response {
    serve(&name)
}

fn serve(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name) else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            // Embedded files change with the binary: revalidate on every load.
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
        ],
        asset.body,
    )
        .into_response()
}
