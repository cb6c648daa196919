//! Satisfaction ratings: one current rating per ticket; a new one supersedes it, and both stay in
//! the ticket's timeline.

use std::collections::HashMap;

use chrono::Utc;
use diesel::prelude::*;

use super::plan_once::key_in;
use crate::domain::{EventKind, RatingSource, TicketStatus};
use crate::error::AppError;
use crate::models::{NewSatisfactionRating, NewTicketEvent, SatisfactionRating, Ticket};
use crate::schema::{satisfaction_ratings, ticket_events, tickets};

/// A rating to record; it is dated when it is recorded.
pub struct RatingInput {
    pub ticket_id: i64,
    pub rating: i16,
    pub comment: Option<String>,
    pub source: RatingSource,
    pub submitted_by: String,
}

/// Records `input` for its ticket, which must be RESOLVED or CLOSED, superseding the current
/// rating. `may_rate` decides, with the ticket locked, whether the caller may rate it. Writes a
/// RATED event (from the old rating to the new) in the same transaction.
///
/// The rating is dated once the ticket's row is locked, so that it falls after every change that
/// committed before it: an instant taken earlier could put a rating before the resolution it
/// depends on in the timeline.
pub fn record(
    conn: &mut PgConnection,
    input: RatingInput,
    may_rate: impl FnOnce(&Ticket) -> Result<(), AppError>,
) -> Result<SatisfactionRating, AppError> {
    conn.transaction(|conn| {
        let ticket: Ticket = tickets::table
            .find(input.ticket_id)
            .for_update()
            .select(Ticket::as_select())
            .get_result(conn)
            .optional()?
            .ok_or_else(|| AppError::NotFound(format!("ticket {} does not exist", input.ticket_id)))?;
        let now = Utc::now();
        let rating = NewSatisfactionRating {
            ticket_id: input.ticket_id,
            rating: input.rating,
            comment: input.comment,
            source: input.source,
            submitted_by: input.submitted_by,
            submitted_at: now,
            superseded_at: None,
        };
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
        .set(satisfaction_ratings::superseded_at.eq(now))
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
        .filter(key_in(satisfaction_ratings::ticket_id, ticket_ids))
        .filter(satisfaction_ratings::superseded_at.is_null())
        .select(SatisfactionRating::as_select())
        .load::<SatisfactionRating>(conn)?;
    Ok(rows.into_iter().map(|row| (row.ticket_id, row)).collect())
}
