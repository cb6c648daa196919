//! History import: a batch of tickets with their whole history, written in one transaction and
//! idempotent by each ticket's external reference.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::lifecycle::{self, History};
use crate::domain::{EventKind, Priority, RatingSource, TicketChannel};
use crate::error::AppError;
use crate::models::{NewCustomer, NewSatisfactionRating, NewTicketEvent, Ticket};
use crate::schema::{customers, satisfaction_ratings, technicians, ticket_events, tickets};

/// Imports take this transaction-scoped advisory lock, so that two batches naming the same
/// external reference never race.
const IMPORT_LOCK_KEY: i64 = 0x6465_736b_696d_7074; // "deskimpt"

pub enum ImportCustomer {
    Existing(i64),
    /// Matched by e-mail (any case) when given and known, else created.
    Details(NewCustomer),
}

pub enum ImportAssignee {
    Id(i64),
    Email(String),
}

pub struct ImportRating {
    pub rating: i16,
    pub comment: Option<String>,
    pub submitted_at: DateTime<Utc>,
}

/// One historical ticket, already checked for shape (lengths, enumerations) by the caller.
pub struct ImportRow {
    pub external_ref: String,
    pub customer: ImportCustomer,
    pub subject: String,
    pub description: String,
    pub category: String,
    pub priority: Priority,
    pub channel: TicketChannel,
    pub assignee: Option<ImportAssignee>,
    pub history: History,
    pub rating: Option<ImportRating>,
}

pub enum RowOutcome {
    Created(Ticket),
    /// A ticket with this external reference exists: nothing was changed.
    AlreadyImported(Ticket),
}

fn row_error(index: usize, field: &str, message: impl Into<String>) -> AppError {
    AppError::bad_input(format!("batch[{index}].{field}"), message)
}

fn row_not_found(index: usize, field: &str, message: impl std::fmt::Display) -> AppError {
    AppError::NotFound(format!("batch[{index}].{field}: {message}"))
}

/// Writes every new ticket of the batch with the events its history implies and its rating, or
/// nothing at all when any row is wrong (the error names the row and the field).
pub fn import_batch(
    conn: &mut PgConnection,
    rows: Vec<ImportRow>,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Vec<RowOutcome>, AppError> {
    let mut seen = HashSet::new();
    for (index, row) in rows.iter().enumerate() {
        if !seen.insert(row.external_ref.as_str()) {
            return Err(row_error(index, "externalRef", "appears twice in this batch"));
        }
    }
    conn.transaction(|conn| {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({IMPORT_LOCK_KEY})")).execute(conn)?;
        let refs: Vec<&str> = rows.iter().map(|row| row.external_ref.as_str()).collect();
        let existing: HashMap<String, Ticket> = tickets::table
            .filter(tickets::external_ref.eq_any(&refs))
            .select(Ticket::as_select())
            .load::<Ticket>(conn)?
            .into_iter()
            .filter_map(|ticket| ticket.external_ref.clone().map(|reference| (reference, ticket)))
            .collect();

        let mut customers_by_email: HashMap<String, i64> = HashMap::new();
        let mut outcomes = Vec::with_capacity(rows.len());
        for (index, row) in rows.into_iter().enumerate() {
            if let Some(ticket) = existing.get(&row.external_ref) {
                outcomes.push(RowOutcome::AlreadyImported(ticket.clone()));
                continue;
            }
            outcomes.push(RowOutcome::Created(insert_row(conn, index, row, actor, now, &mut customers_by_email)?));
        }
        Ok(outcomes)
    })
}

fn insert_row(
    conn: &mut PgConnection,
    index: usize,
    row: ImportRow,
    actor: &str,
    now: DateTime<Utc>,
    customers_by_email: &mut HashMap<String, i64>,
) -> Result<Ticket, AppError> {
    let (state, steps) =
        lifecycle::replay(&row.history, now).map_err(|err| row_error(index, err.field, err.message))?;
    if let Some(rating) = &row.rating {
        let first_resolved = state
            .first_resolved_at
            .ok_or_else(|| row_error(index, "rating", "only a resolved or closed ticket has a rating"))?;
        if rating.submitted_at < first_resolved || rating.submitted_at > now {
            return Err(row_error(index, "rating.submittedAt", "must lie between the first resolution and now"));
        }
    }
    let customer_id = resolve_customer(conn, index, row.customer, customers_by_email)?;
    let assignee_id = match row.assignee {
        None => None,
        Some(ImportAssignee::Id(id)) => {
            let exists: bool = diesel::select(diesel::dsl::exists(technicians::table.find(id))).get_result(conn)?;
            if !exists {
                return Err(row_not_found(index, "assigneeId", format!("technician {id} does not exist")));
            }
            Some(id)
        }
        Some(ImportAssignee::Email(email)) => Some(
            technicians::table
                .filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("lower(technicians.email) = lower(")
                        .bind::<diesel::sql_types::Text, _>(email.clone())
                        .sql(")"),
                )
                .select(technicians::id)
                .first(conn)
                .optional()?
                .ok_or_else(|| {
                    row_not_found(index, "assigneeEmail", format!("no technician has the e-mail {email}"))
                })?,
        ),
    };

    let ticket: Ticket = diesel::insert_into(tickets::table)
        .values((
            tickets::customer_id.eq(customer_id),
            tickets::subject.eq(&row.subject),
            tickets::description.eq(&row.description),
            tickets::category.eq(&row.category),
            tickets::priority.eq(row.priority),
            tickets::channel.eq(row.channel),
            tickets::status.eq(state.status),
            tickets::assignee_id.eq(assignee_id),
            tickets::opened_at.eq(row.history.opened_at),
            tickets::first_response_at.eq(state.first_response_at),
            tickets::first_resolved_at.eq(state.first_resolved_at),
            tickets::resolved_at.eq(state.resolved_at),
            tickets::closed_at.eq(state.closed_at),
            tickets::reopen_count.eq(state.reopen_count),
            tickets::external_ref.eq(&row.external_ref),
            tickets::created_at.eq(now),
            tickets::updated_at.eq(now),
        ))
        .returning(Ticket::as_returning())
        .get_result(conn)?;

    let event = |at, kind, from: Option<String>, to: Option<String>, note: Option<String>| NewTicketEvent {
        ticket_id: ticket.id,
        at,
        actor: actor.to_owned(),
        kind,
        from_value: from,
        to_value: to,
        note,
    };
    let opened = row.history.opened_at;
    let mut events = vec![event(opened, EventKind::Created, None, Some("OPEN".into()), Some("imported".into()))];
    if let Some(assignee) = assignee_id {
        events.push(event(opened, EventKind::Assigned, None, Some(assignee.to_string()), None));
    }
    for step in steps {
        events.push(event(step.at, step.kind, Some(step.from.to_string()), Some(step.to.to_string()), None));
    }
    if let Some(rating) = row.rating {
        events.push(event(
            rating.submitted_at,
            EventKind::Rated,
            None,
            Some(rating.rating.to_string()),
            rating.comment.clone(),
        ));
        diesel::insert_into(satisfaction_ratings::table)
            .values(&NewSatisfactionRating {
                ticket_id: ticket.id,
                rating: rating.rating,
                comment: rating.comment,
                source: RatingSource::Import,
                submitted_by: actor.to_owned(),
                submitted_at: rating.submitted_at,
            })
            .execute(conn)?;
    }
    diesel::insert_into(ticket_events::table).values(&events).execute(conn)?;
    Ok(ticket)
}

fn resolve_customer(
    conn: &mut PgConnection,
    index: usize,
    customer: ImportCustomer,
    customers_by_email: &mut HashMap<String, i64>,
) -> Result<i64, AppError> {
    match customer {
        ImportCustomer::Existing(id) => {
            let exists: bool = diesel::select(diesel::dsl::exists(customers::table.find(id))).get_result(conn)?;
            if exists {
                Ok(id)
            } else {
                Err(row_not_found(index, "customerId", format!("customer {id} does not exist")))
            }
        }
        ImportCustomer::Details(details) => {
            let key = details.email.as_ref().map(|email| email.to_lowercase());
            if let Some(key) = &key {
                if let Some(id) = customers_by_email.get(key) {
                    return Ok(*id);
                }
                let known: Option<i64> = customers::table
                    .filter(
                        diesel::dsl::sql::<diesel::sql_types::Bool>("lower(customers.email) = ")
                            .bind::<diesel::sql_types::Text, _>(key.clone()),
                    )
                    .order(customers::id)
                    .select(customers::id)
                    .first(conn)
                    .optional()?;
                if let Some(id) = known {
                    customers_by_email.insert(key.clone(), id);
                    return Ok(id);
                }
            }
            let id = super::customers::create(conn, &details)?.id;
            if let Some(key) = key {
                customers_by_email.insert(key, id);
            }
            Ok(id)
        }
    }
}
