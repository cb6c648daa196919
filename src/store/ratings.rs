//! Satisfaction ratings: one current rating per ticket; a new one supersedes it, and both stay in
//! the ticket's timeline.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::{EventKind, TicketStatus};
use crate::error::AppError;
use crate::models::{NewSatisfactionRating, NewTicketEvent, SatisfactionRating, Ticket};
use crate::schema::{satisfaction_ratings, ticket_events, tickets};

/// Records `rating` for its ticket, which must be RESOLVED or CLOSED, superseding the current
/// rating. `may_rate` decides, with the ticket locked, whether the caller may rate it. Writes a
/// RATED event (from the old rating to the new) in the same transaction.
pub fn record(
    conn: &mut PgConnection,
    rating: NewSatisfactionRating,
    may_rate: impl FnOnce(&Ticket) -> Result<(), AppError>,
    now: DateTime<Utc>,
) -> Result<SatisfactionRating, AppError> {
    conn.transaction(|conn| {
        let ticket: Ticket = tickets::table
            .find(rating.ticket_id)
            .for_update()
            .select(Ticket::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| AppError::NotFound(format!("ticket {} does not exist", rating.ticket_id)))?;
        may_rate(&ticket)?;
        if !matches!(ticket.status, TicketStatus::Resolved | TicketStatus::Closed) {
            return Err(AppError::bad_input(
                "ticketId",
                format!("ticket {} is {}: only RESOLVED or CLOSED tickets are rated", ticket.number, ticket.status),
            ));
        }
        let previous: Option<i16> = diesel::update(
            satisfaction_ratings::table
                .filter(satisfaction_ratings::ticket_id.eq(ticket.id))
                .filter(satisfaction_ratings::superseded_at.is_null()),
        )
        .set(satisfaction_ratings::superseded_at.eq(now.max(rating.submitted_at)))
        .returning(satisfaction_ratings::rating)
        .get_result(conn)
        .optional()?;
        let recorded: SatisfactionRating = diesel::insert_into(satisfaction_ratings::table)
            .values(&rating)
            .returning(SatisfactionRating::as_returning())
            .get_result(conn)?;
        diesel::insert_into(ticket_events::table)
            .values(&NewTicketEvent {
                ticket_id: ticket.id,
                at: recorded.submitted_at,
                actor: recorded.submitted_by.clone(),
                kind: EventKind::Rated,
                from_value: previous.map(|r| r.to_string()),
                to_value: Some(recorded.rating.to_string()),
                note: recorded.comment.clone(),
            })
            .execute(conn)?;
        Ok(recorded)
    })
}

/// The current rating of each ticket that has one.
pub fn current_of(conn: &mut PgConnection, ticket_ids: &[i64]) -> Result<HashMap<i64, SatisfactionRating>, AppError> {
    let rows = satisfaction_ratings::table
        .filter(satisfaction_ratings::ticket_id.eq_any(ticket_ids))
        .filter(satisfaction_ratings::superseded_at.is_null())
        .select(SatisfactionRating::as_select())
        .load::<SatisfactionRating>(conn)?;
    Ok(rows.into_iter().map(|row| (row.ticket_id, row)).collect())
}
