//! The report pages' HTML (docs/ui.md): one shell, drawn by one script (assets/ui/ui.js), served
//! at /ui/ with no data in it, or written by `deskpulse report show ID --format html` as one
//! self-contained file that carries the report's data and draws it offline with the same script.

use async_graphql::{Request, Variables};
use serde_json::{Value, json};

use crate::auth::{Caller, Role};
use crate::config::{DatabaseSettings, LimitSettings};
use crate::db::Db;
use crate::domain::report::ReportKind;
use crate::error::BoxError;
use crate::graphql::{CallerTechnician, prepare_request, schema_builder};

/// The GraphQL operations the pages run, also run in-process for the saved file.
pub const QUERIES: &str = include_str!("../assets/ui/report.graphql");
const SHELL: &str = include_str!("../assets/ui/index.html");
pub const SCRIPT: &str = include_str!("../assets/ui/ui.js");
pub const STYLE: &str = include_str!("../assets/ui/ui.css");

/// The page /ui/ serves for every path: the shell with its script and stylesheet as files of
/// this server (the CSP allows no inline script) and no data.
pub fn served_page() -> String {
    shell(r#"<link rel="stylesheet" href="/ui/assets/ui.css">"#, "", r#"<script src="/ui/assets/ui.js"></script>"#)
}

/// One report as a single HTML file: the stylesheet and script inline, and `document` (what
/// [`report_document`] returns) in a JSON data block the script draws from.
pub fn self_contained_page(document: &Value) -> String {
    let data = format!(r#"<script type="application/json" id="report-data">{}</script>"#, script_safe_json(document));
    shell(&format!("<style>\n{STYLE}</style>"), &data, &format!("<script>\n{SCRIPT}</script>"))
}

fn shell(style: &str, data: &str, script: &str) -> String {
    SHELL
        .replace("<!--STYLE-->", style)
        .replace("<!--QUERIES-->", QUERIES)
        .replace("<!--DATA-->", data)
        .replace("<!--SCRIPT-->", script)
}

/// JSON that cannot end the `<script>` element it sits in: every `<` (only ever inside a string)
/// is written as the escape `\u003c`, so a customer named `</script>` stays text.
fn script_safe_json(document: &Value) -> String {
    document.to_string().replace('<', "\\u003c")
}

/// The operation `name` of [`QUERIES`] with the fragments it spreads, as ui.js sends it: alone,
/// since the schema prices every operation a document holds.
pub fn operation(name: &str) -> Option<String> {
    let text: String = QUERIES.lines().filter(|line| !line.starts_with('#')).collect::<Vec<_>>().join("\n");
    let mut definitions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if ["query ", "mutation ", "fragment "].iter().any(|start| line.starts_with(start))
            && !current.trim().is_empty()
        {
            definitions.push(std::mem::take(&mut current));
        }
        current.push_str(line);
        current.push('\n');
    }
    definitions.push(current);
    let definitions: Vec<&str> = definitions.iter().map(|d| d.trim()).filter(|d| !d.is_empty()).collect();
    let chosen = definitions.iter().find(|d| {
        ["query ", "mutation "].iter().any(|kind| {
            d.strip_prefix(kind)
                .and_then(|rest| rest.strip_prefix(name))
                .is_some_and(|rest| rest.starts_with(|c: char| !c.is_alphanumeric() && c != '_'))
        })
    })?;
    let mut parts = vec![chosen.to_string()];
    for fragment in definitions.iter().filter(|d| d.starts_with("fragment ")) {
        let fragment_name = fragment.split_whitespace().nth(1).unwrap_or_default();
        if chosen.contains(&format!("...{fragment_name}")) {
            parts.push(fragment.to_string());
        }
    }
    Some(parts.join("\n\n"))
}

/// A report's trend buckets: days for a week, weeks for a month (ui.js picks the same).
pub fn trend_bucket(kind: ReportKind) -> &'static str {
    match kind {
        ReportKind::Week => "DAY",
        ReportKind::Month => "WEEK",
    }
}

/// What the report page draws for report `id`: the answers of `UiReport` and `UiReportTrend`
/// (assets/ui/report.graphql), run in-process against the schema as an ADMIN caller named
/// `actor`, exactly as the page runs them over /graphql.
pub async fn report_document(database: &DatabaseSettings, id: i64, actor: &str) -> Result<Value, BoxError> {
    let schema = schema_builder(&LimitSettings::default()).finish();
    let db = Db::with_pool_size(database, 2);
    let caller = Caller { subject: actor.to_owned(), role: Role::Admin, technician_id: None, technician_active: true };
    let run = |operation: &'static str, variables: Value| {
        let document = self::operation(operation).ok_or_else(|| format!("assets/ui/report.graphql has no {operation}"));
        let request = document.map(|document| {
            Request::new(document).operation_name(operation).variables(Variables::from_json(variables))
        });
        let (schema, caller, db) = (&schema, caller.clone(), &db);
        async move {
            let request = prepare_request(request?, Some(caller), CallerTechnician::Read(None), db).await;
            let response = schema.execute(request).await;
            if let Some(error) = response.errors.first() {
                return Err(BoxError::from(format!("{operation}: {}", error.message)));
            }
            Ok::<Value, BoxError>(response.data.into_json()?)
        }
    };
    let first = run("UiReport", json!({ "id": id.to_string() })).await?;
    let report = first["report"].clone();
    if report.is_null() {
        return Err(format!("there is no report {id}").into());
    }
    let kind: ReportKind =
        report["kind"].as_str().unwrap_or_default().parse().map_err(|_| "a report without a kind")?;
    let trend = run(
        "UiReportTrend",
        json!({
            "id": id.to_string(),
            "period": { "from": report["periodStart"], "to": report["periodEnd"] },
            "timeZone": report["timeZone"],
            "bucket": trend_bucket(kind),
        }),
    )
    .await?;
    Ok(json!({ "report": report, "trend": trend }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_page_holds_no_data_and_no_inline_script() {
        let page = served_page();
        assert!(!page.contains("report-data"));
        assert!(!page.contains("<script>"), "the CSP allows no inline script");
        assert!(!page.contains("<!--"), "every placeholder is filled");
        assert!(!page.contains("://"), "nothing from elsewhere");
    }

    #[test]
    fn an_operation_is_cut_out_with_the_fragments_it_spreads() {
        let report = operation("UiReport").unwrap();
        assert!(report.starts_with("query UiReport("), "{report}");
        assert!(report.contains("fragment UiValues on KpiValues"));
        assert!(!report.contains("UiReportTrend") && !report.contains("UiReports"));
        let trend = operation("UiReportTrend").unwrap();
        assert!(trend.starts_with("query UiReportTrend(") && !trend.contains("fragment"), "{trend}");
        assert!(operation("UiRep").is_none());
    }

    #[test]
    fn the_saved_page_keeps_its_data_inside_its_script_element() {
        let page = self_contained_page(&json!({ "report": { "name": "</script><script>alert(1)</script>" } }));
        assert_eq!(page.matches("</script>").count(), 3, "the queries, the data and the script");
        assert!(page.contains(r"\u003c/script>\u003cscript>alert(1)\u003c/script>"));
        assert!(!SCRIPT.contains("</script") && !STYLE.contains("</style"), "the inline copies end where they should");
    }
}
