//! What the exports for BI tools contain: the ticket CSV's columns, and a stored report as JSON
//! or as long-format CSV. The HTTP layer streams these; the CLI prints the JSON.

use serde_json::{Value, json};

use crate::domain::kpi::{KpiMetric, metric_value};
use crate::error::AppError;
use crate::models::PerformanceReport;
use crate::store::exports::TicketExportRow;

/// The ticket export's header, in column order.
pub const TICKET_COLUMNS: &[&str] = &[
    "number",
    "opened_at",
    "first_response_at",
    "first_resolved_at",
    "resolved_at",
    "closed_at",
    "status",
    "assignee_id",
    "assignee",
    "team",
    "customer_id",
    "category",
    "priority",
    "channel",
    "first_response_seconds",
    "resolution_seconds",
    "reopen_count",
    "rating",
];

/// A text cell a spreadsheet would run as a formula gets a leading apostrophe (OWASP's advice on
/// CSV injection): one that starts, after any blanks, with `=`, `+`, `-`, `@` or their full-width
/// forms, or with a tab or carriage return. Numbers and dates are written as they are.
pub fn safe_text(text: &str) -> String {
    let starts_a_formula = matches!(text.chars().next(), Some('\t' | '\r'))
        || matches!(
            text.trim_start().chars().next(),
            Some('=' | '+' | '-' | '@' | '\u{FF1D}' | '\u{FF0B}' | '\u{FF0D}' | '\u{FF20}')
        );
    if starts_a_formula { format!("'{text}") } else { text.to_owned() }
}

fn optional<T: ToString>(value: Option<T>) -> String {
    value.map(|value| value.to_string()).unwrap_or_default()
}

/// One CSV record of a ticket, in [`TICKET_COLUMNS`] order. Instants are RFC 3339 UTC.
pub fn ticket_record(row: &TicketExportRow) -> [String; 18] {
    let instant = |at: Option<chrono::DateTime<chrono::Utc>>| optional(at.map(|at| at.to_rfc3339()));
    [
        row.number.clone(),
        row.opened_at.to_rfc3339(),
        instant(row.first_response_at),
        instant(row.first_resolved_at),
        instant(row.resolved_at),
        instant(row.closed_at),
        row.status.clone(),
        optional(row.assignee_id),
        optional(row.assignee.as_deref().map(safe_text)),
        optional(row.team.as_deref().map(safe_text)),
        row.customer_id.to_string(),
        safe_text(&row.category),
        row.priority.clone(),
        row.channel.clone(),
        optional(row.first_response_seconds),
        optional(row.resolution_seconds),
        row.reopen_count.to_string(),
        optional(row.rating),
    ]
}

/// A stored report as one JSON document: its metadata and its snapshot as stored.
pub fn report_json(report: &PerformanceReport) -> Value {
    json!({
        "id": report.id.to_string(),
        "kind": report.kind,
        "periodStart": report.period_start,
        "periodEnd": report.period_end,
        "timeZone": report.time_zone,
        "version": report.version,
        "generatedAt": report.generated_at,
        "generatedBy": report.generated_by,
        "trigger": report.trigger,
        "snapshot": report.snapshot,
    })
}

/// The report CSV's header: one metric per row, in long format for BI tools.
pub const REPORT_COLUMNS: &[&str] =
    &["section", "key", "name", "team", "metric", "value", "previous", "change", "relative_change"];

/// A stored report as CSV records in [`REPORT_COLUMNS`] order: the summary with its changes,
/// each technician's metrics, interactions by channel and direction, the top categories and
/// the top customers.
pub fn report_records(report: &PerformanceReport) -> Result<Vec<[String; 9]>, AppError> {
    let snapshot = crate::store::reports::snapshot_of(report)?;
    let mut records = Vec::new();
    let number = |value: Option<f64>| optional(value);
    for change in &snapshot.changes {
        records.push([
            "summary".into(),
            String::new(),
            String::new(),
            String::new(),
            change.metric.to_string(),
            number(change.current),
            number(change.previous),
            number(change.absolute),
            number(change.relative),
        ]);
    }
    for interactions in &snapshot.current.interactions {
        let key = format!("{}/{}", interactions.channel, interactions.direction);
        for (metric, value) in
            [("INTERACTIONS", interactions.count), ("INTERACTION_DURATION_SECONDS", interactions.duration_seconds)]
        {
            records.push([
                "interactions".into(),
                key.clone(),
                String::new(),
                String::new(),
                metric.into(),
                value.to_string(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
    }
    for row in &snapshot.technicians {
        let key = row.technician_id.map_or_else(|| "unassigned".to_owned(), |id| id.to_string());
        for metric in KpiMetric::ALL {
            records.push([
                "technician".into(),
                key.clone(),
                optional(row.name.as_deref().map(safe_text)),
                optional(row.team.as_deref().map(safe_text)),
                metric.to_string(),
                number(metric_value(&row.values, *metric)),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
    }
    for trend in &snapshot.top_categories {
        records.push([
            "category".into(),
            safe_text(&trend.category),
            safe_text(&trend.category),
            String::new(),
            KpiMetric::TicketsOpened.to_string(),
            trend.tickets.to_string(),
            trend.previous_tickets.to_string(),
            trend.change.to_string(),
            number(trend.relative_change),
        ]);
    }
    for customer in &snapshot.top_customers {
        records.push([
            "customer".into(),
            customer.customer_id.to_string(),
            safe_text(&customer.name),
            String::new(),
            KpiMetric::TicketsOpened.to_string(),
            customer.tickets.to_string(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(safe_text("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(safe_text("-1+2"), "'-1+2");
        assert_eq!(safe_text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(safe_text("  =1+1"), "'  =1+1");
        assert_eq!(safe_text("\u{FF1D}1+1"), "'\u{FF1D}1+1");
        assert_eq!(safe_text("\tx"), "'\tx");
        assert_eq!(safe_text("network"), "network");
        assert_eq!(safe_text("a-b"), "a-b");
    }
}
