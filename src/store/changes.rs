//! The rows behind ticket change notices (migration 000016): a batch of notices costs three
//! statements, whatever its size. Also the presence rows that make writers send the notices at
//! all (migration 000021).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use crate::error::AppError;
use crate::models::{Interaction, Ticket, TicketEvent};
use crate::schema::ticket_events;

/// What one notification names: a ticket and the event or interaction that changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Event { ticket_id: i64, event_id: i64 },
    Interaction { ticket_id: i64, interaction_id: i64 },
}

impl Notice {
    /// `e <ticket id> <event id>` or `i <ticket id> <interaction id>`.
    pub fn parse(payload: &str) -> Option<Notice> {
        let mut parts = payload.split(' ');
        let (kind, ticket, row) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let (ticket_id, row_id) = (ticket.parse().ok()?, row.parse().ok()?);
        match kind {
            "e" => Some(Notice::Event { ticket_id, event_id: row_id }),
            "i" => Some(Notice::Interaction { ticket_id, interaction_id: row_id }),
            _ => None,
        }
    }

    fn ticket_id(self) -> i64 {
        match self {
            Notice::Event { ticket_id, .. } | Notice::Interaction { ticket_id, .. } => ticket_id,
        }
    }
}

/// A notice's rows, as read now.
pub struct ReadChange {
    pub ticket: Ticket,
    pub event: Option<TicketEvent>,
    pub interaction: Option<Interaction>,
}

/// The rows of `notices`, in their order. A notice whose rows are gone (removed by retention
/// since) is left out.
pub fn read(conn: &mut PgConnection, notices: &[Notice]) -> Result<Vec<ReadChange>, AppError> {
    let ticket_ids: Vec<i64> = notices.iter().map(|notice| notice.ticket_id()).collect();
    let event_ids: Vec<i64> = notices
        .iter()
        .filter_map(|notice| match notice {
            Notice::Event { event_id, .. } => Some(*event_id),
            Notice::Interaction { .. } => None,
        })
        .collect();
    let interaction_ids: Vec<i64> = notices
        .iter()
        .filter_map(|notice| match notice {
            Notice::Interaction { interaction_id, .. } => Some(*interaction_id),
            Notice::Event { .. } => None,
        })
        .collect();
    let tickets = super::tickets::by_ids(conn, &ticket_ids)?;
    let mut events = std::collections::HashMap::new();
    if !event_ids.is_empty() {
        let rows = ticket_events::table
            .filter(ticket_events::id.eq_any(&event_ids))
            .select(TicketEvent::as_select())
            .load::<TicketEvent>(conn)?;
        events.extend(rows.into_iter().map(|row| (row.id, row)));
    }
    let interactions = if interaction_ids.is_empty() {
        Default::default()
    } else {
        super::interactions::by_ids(conn, &interaction_ids)?
    };
    Ok(notices
        .iter()
        .filter_map(|notice| {
            let ticket = tickets.get(&notice.ticket_id())?.clone();
            match notice {
                Notice::Event { event_id, .. } => {
                    Some(ReadChange { ticket, event: Some(events.get(event_id)?.clone()), interaction: None })
                }
                Notice::Interaction { interaction_id, .. } => Some(ReadChange {
                    ticket,
                    event: None,
                    interaction: Some(interactions.get(interaction_id)?.clone()),
                }),
            }
        })
        .collect())
}

/// Renews (or makes) this instance's presence row: while its heartbeat is fresh, writers announce
/// their changes (migration 000021).
pub fn renew_presence(conn: &mut PgConnection, instance_id: &str) -> Result<(), AppError> {
    diesel::sql_query(
        "INSERT INTO live_presence (instance_id, heartbeat_at) VALUES ($1, now()) \
         ON CONFLICT (instance_id) DO UPDATE SET heartbeat_at = now()",
    )
    .bind::<Text, _>(instance_id)
    .execute(conn)?;
    Ok(())
}

/// Removes this instance's presence row: nobody here watches any more.
pub fn withdraw_presence(conn: &mut PgConnection, instance_id: &str) -> Result<(), AppError> {
    diesel::sql_query("DELETE FROM live_presence WHERE instance_id = $1").bind::<Text, _>(instance_id).execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct Snapshot {
    #[diesel(sql_type = BigInt)]
    xmin: i64,
    #[diesel(sql_type = BigInt)]
    xmax: i64,
}

/// The transaction ids of the database's current snapshot: the oldest still running (`xmin`) and
/// the first not yet assigned (`xmax`).
pub fn snapshot_bounds(conn: &mut PgConnection) -> Result<(i64, i64), AppError> {
    let Snapshot { xmin, xmax } = diesel::sql_query(
        "SELECT pg_snapshot_xmin(s)::text::bigint AS xmin, pg_snapshot_xmax(s)::text::bigint AS xmax \
         FROM pg_current_snapshot() AS s",
    )
    .get_result(conn)?;
    Ok((xmin, xmax))
}

#[cfg(test)]
mod tests {
    use super::Notice;

    #[test]
    fn notices_are_parsed_strictly() {
        assert_eq!(Notice::parse("e 12 34"), Some(Notice::Event { ticket_id: 12, event_id: 34 }));
        assert_eq!(Notice::parse("i 5 6"), Some(Notice::Interaction { ticket_id: 5, interaction_id: 6 }));
        for bad in ["", "e", "e 1", "x 1 2", "e 1 2 3", "e a 2", "e 1 -"] {
            assert_eq!(Notice::parse(bad), None, "{bad:?}");
        }
    }
}
