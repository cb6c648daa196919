//! The rows of the ticket CSV export, read in keyset batches from one snapshot.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Int4, Nullable, SmallInt, Text, Timestamptz};

use crate::error::AppError;

/// One exported ticket, flattened for BI tools.
#[derive(QueryableByName, Debug, Clone)]
pub struct TicketExportRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub number: String,
    #[diesel(sql_type = Timestamptz)]
    pub opened_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub first_response_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub first_resolved_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub resolved_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub closed_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub assignee_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub assignee: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub team: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub customer_id: i64,
    #[diesel(sql_type = Text)]
    pub category: String,
    #[diesel(sql_type = Text)]
    pub priority: String,
    #[diesel(sql_type = Text)]
    pub channel: String,
    #[diesel(sql_type = Nullable<Double>)]
    pub first_response_seconds: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    pub resolution_seconds: Option<f64>,
    #[diesel(sql_type = Int4)]
    pub reopen_count: i32,
    #[diesel(sql_type = Nullable<SmallInt>)]
    pub rating: Option<i16>,
}

/// Tickets opened in `[from, to)`, in (openedAt, id) order, after the keyset position `after`.
/// Call it repeatedly inside one read-only repeatable-read transaction for a consistent export.
pub fn ticket_batch(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    after: Option<(DateTime<Utc>, i64)>,
    limit: i64,
) -> Result<Vec<TicketExportRow>, AppError> {
    // Before the first row, (from, 0) sorts before every ticket of the period.
    let (after_at, after_id) = after.unwrap_or((from, 0));
    Ok(diesel::sql_query(
        "SELECT t.id, t.number, t.opened_at, t.first_response_at, t.first_resolved_at, t.resolved_at, \
                t.closed_at, t.status, t.assignee_id, tm.name AS assignee, tm.team, t.customer_id, t.category, \
                t.priority, t.channel, \
                date_part('epoch', t.first_response_at - t.opened_at) AS first_response_seconds, \
                date_part('epoch', t.resolved_at - t.opened_at) AS resolution_seconds, \
                t.reopen_count, r.rating \
         FROM tickets t \
         LEFT JOIN technicians tm ON tm.id = t.assignee_id \
         LEFT JOIN satisfaction_ratings r ON r.ticket_id = t.id AND r.superseded_at IS NULL \
         WHERE t.opened_at >= $1 AND t.opened_at < $2 AND (t.opened_at, t.id) > ($3, $4) \
         ORDER BY t.opened_at, t.id \
         LIMIT $5",
    )
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .bind::<Timestamptz, _>(after_at)
    .bind::<BigInt, _>(after_id)
    .bind::<BigInt, _>(limit)
    .load(conn)?)
}
