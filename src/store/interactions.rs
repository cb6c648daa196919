//! The customer interaction log: append-only, corrections are new entries.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;

use super::plan_once::key_in;
use crate::domain::{Direction, InteractionChannel};
use crate::error::AppError;
use crate::models::{Interaction, NewInteraction};
use crate::schema::{customers, interactions, technicians, tickets};

/// Logs an interaction after checking what it refers to. An OUTBOUND interaction on a ticket is a
/// response: it moves the ticket's firstResponseAt earlier when it is earlier (never before the
/// ticket was opened).
pub fn log(conn: &mut PgConnection, new: NewInteraction) -> Result<Interaction, AppError> {
    conn.transaction(|conn| {
        let customer_exists: bool =
            diesel::select(diesel::dsl::exists(customers::table.find(new.customer_id))).get_result(conn)?;
        if !customer_exists {
            return Err(AppError::NotFound(format!("customerId: customer {} does not exist", new.customer_id)));
        }
        if let Some(ticket_id) = new.ticket_id {
            let owner: Option<i64> =
                tickets::table.find(ticket_id).select(tickets::customer_id).get_result(conn).optional()?;
            match owner {
                None => return Err(AppError::NotFound(format!("ticketId: ticket {ticket_id} does not exist"))),
                Some(owner) if owner != new.customer_id => {
                    return Err(AppError::bad_input(
                        "ticketId",
                        format!("ticket {ticket_id} belongs to another customer"),
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some(technician_id) = new.technician_id {
            let exists: bool =
                diesel::select(diesel::dsl::exists(technicians::table.find(technician_id))).get_result(conn)?;
            if !exists {
                return Err(AppError::NotFound(format!("technicianId: technician {technician_id} does not exist")));
            }
        }
        if let Some(corrected) = new.corrects_id {
            let corrected_customer: Option<i64> =
                interactions::table.find(corrected).select(interactions::customer_id).get_result(conn).optional()?;
            match corrected_customer {
                None => {
                    return Err(AppError::NotFound(format!("correctsId: interaction {corrected} does not exist")));
                }
                Some(customer) if customer != new.customer_id => {
                    return Err(AppError::bad_input(
                        "correctsId",
                        format!("interaction {corrected} belongs to another customer"),
                    ));
                }
                Some(_) => {}
            }
        }
        let logged: Interaction = diesel::insert_into(interactions::table)
            .values(&new)
            .returning(Interaction::as_returning())
            .get_result(conn)?;
        if let (Some(ticket_id), Direction::Outbound) = (logged.ticket_id, logged.direction) {
            record_response(conn, ticket_id, logged.occurred_at)?;
        }
        Ok(logged)
    })
}

/// Moves a ticket's firstResponseAt to `at` when that is earlier (and not before it opened).
pub fn record_response(conn: &mut PgConnection, ticket_id: i64, at: DateTime<Utc>) -> Result<(), AppError> {
    diesel::update(
        tickets::table
            .find(ticket_id)
            .filter(tickets::opened_at.le(at))
            .filter(tickets::first_response_at.is_null().or(tickets::first_response_at.gt(at))),
    )
    .set(tickets::first_response_at.eq(at))
    .execute(conn)?;
    Ok(())
}

pub fn by_ids(conn: &mut PgConnection, ids: &[i64]) -> Result<HashMap<i64, Interaction>, AppError> {
    let rows = interactions::table
        .filter(key_in(interactions::id, ids))
        .select(Interaction::as_select())
        .load::<Interaction>(conn)?;
    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
}

/// The filters of an interaction list; `None` and empty lists mean "any".
#[derive(Debug, Clone, Default)]
pub struct InteractionFilter {
    pub customer_id: Option<i64>,
    pub ticket_id: Option<i64>,
    pub technician_id: Option<i64>,
    pub channels: Vec<InteractionChannel>,
    pub direction: Option<Direction>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// One page, newest first, after (occurred_at, id).
pub fn list(
    conn: &mut PgConnection,
    filter: &InteractionFilter,
    after: Option<(DateTime<Utc>, i64)>,
    limit: i64,
) -> Result<Vec<Interaction>, AppError> {
    let mut query = filtered(filter).select(Interaction::as_select());
    if let Some((at, id)) = after {
        query = query
            .filter(interactions::occurred_at.lt(at).or(interactions::occurred_at.eq(at).and(interactions::id.lt(id))));
    }
    Ok(query.order((interactions::occurred_at.desc(), interactions::id.desc())).limit(limit).load(conn)?)
}

pub fn count(conn: &mut PgConnection, filter: &InteractionFilter) -> Result<i64, AppError> {
    Ok(filtered(filter).count().get_result(conn)?)
}

fn filtered(filter: &InteractionFilter) -> interactions::BoxedQuery<'static, Pg> {
    let mut query = interactions::table.into_boxed();
    if let Some(customer) = filter.customer_id {
        query = query.filter(interactions::customer_id.eq(customer));
    }
    if let Some(ticket) = filter.ticket_id {
        query = query.filter(interactions::ticket_id.eq(ticket));
    }
    if let Some(technician) = filter.technician_id {
        query = query.filter(interactions::technician_id.eq(technician));
    }
    if !filter.channels.is_empty() {
        query = query.filter(interactions::channel.eq_any(filter.channels.clone()));
    }
    if let Some(direction) = filter.direction {
        query = query.filter(interactions::direction.eq(direction));
    }
    if let Some(from) = filter.from {
        query = query.filter(interactions::occurred_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(interactions::occurred_at.lt(to));
    }
    query
}
