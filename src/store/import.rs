//! History import: a batch of tickets with their whole history, written in one transaction and
//! idempotent by each ticket's external reference.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::domain::lifecycle::{self, History, StepSource};
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

/// A technician named by an import: the assignee, or who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TechnicianRef {
    Id(i64),
    /// Matched in any case.
    Email(String),
}

/// Who made each change of a history; None (or an empty list) is the importer.
#[derive(Debug, Clone, Default)]
pub struct EventActors {
    pub opened_by: Option<TechnicianRef>,
    pub first_response_by: Option<TechnicianRef>,
    /// One per resolution, or none.
    pub resolved_by: Vec<TechnicianRef>,
    /// One per reopen, or none.
    pub reopened_by: Vec<TechnicianRef>,
    pub closed_by: Option<TechnicianRef>,
}

pub struct ImportRating {
    pub rating: i16,
    pub comment: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub recorded_by: Option<TechnicianRef>,
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
    pub assignee: Option<TechnicianRef>,
    pub actors: EventActors,
    pub history: History,
    /// Oldest first: each supersedes the one before, the last is current.
    pub ratings: Vec<ImportRating>,
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

        let mut known = Known::default();
        let mut outcomes = Vec::with_capacity(rows.len());
        for (index, row) in rows.into_iter().enumerate() {
            if let Some(ticket) = existing.get(&row.external_ref) {
                outcomes.push(RowOutcome::AlreadyImported(ticket.clone()));
                continue;
            }
            outcomes.push(RowOutcome::Created(insert_row(conn, index, row, actor, now, &mut known)?));
        }
        Ok(outcomes)
    })
}

/// What a batch has looked up so far: customers by e-mail, technicians by reference.
#[derive(Default)]
struct Known {
    customers_by_email: HashMap<String, i64>,
    technicians: HashMap<TechnicianRef, (i64, String)>,
}

/// The technician `reference` names, as (id, e-mail); NOT_FOUND names the row's `field`.
/// Deactivated technicians count: history names people who left.
fn technician(
    conn: &mut PgConnection,
    known: &mut Known,
    index: usize,
    field: &str,
    reference: &TechnicianRef,
) -> Result<(i64, String), AppError> {
    if let Some(found) = known.technicians.get(reference) {
        return Ok(found.clone());
    }
    let found: Option<(i64, String)> = match reference {
        TechnicianRef::Id(id) => {
            technicians::table.find(id).select((technicians::id, technicians::email)).get_result(conn).optional()?
        }
        TechnicianRef::Email(email) => technicians::table
            .filter(
                diesel::dsl::sql::<diesel::sql_types::Bool>("lower(technicians.email) = lower(")
                    .bind::<diesel::sql_types::Text, _>(email.clone())
                    .sql(")"),
            )
            .select((technicians::id, technicians::email))
            .first(conn)
            .optional()?,
    };
    let found = found.ok_or_else(|| match reference {
        TechnicianRef::Id(id) => row_not_found(index, field, format!("technician {id} does not exist")),
        TechnicianRef::Email(email) => row_not_found(index, field, format!("no technician has the e-mail {email}")),
    })?;
    known.technicians.insert(reference.clone(), found.clone());
    Ok(found)
}

/// The actor recorded for a change `by` names: the technician's e-mail address, or the importer.
fn actor_of(
    conn: &mut PgConnection,
    known: &mut Known,
    index: usize,
    field: &str,
    by: Option<&TechnicianRef>,
    importer: &str,
) -> Result<String, AppError> {
    match by {
        Some(reference) => Ok(technician(conn, known, index, field, reference)?.1),
        None => Ok(importer.to_owned()),
    }
}

fn insert_row(
    conn: &mut PgConnection,
    index: usize,
    row: ImportRow,
    importer: &str,
    now: DateTime<Utc>,
    known: &mut Known,
) -> Result<Ticket, AppError> {
    let (state, steps) =
        lifecycle::replay(&row.history, now).map_err(|err| row_error(index, err.field, err.message))?;
    if let Some(rating) = row.ratings.first() {
        let first_resolved = state
            .first_resolved_at
            .ok_or_else(|| row_error(index, "ratings", "only a resolved or closed ticket has a rating"))?;
        let outside = |rating: &ImportRating| rating.submitted_at < first_resolved || rating.submitted_at > now;
        if outside(rating) || row.ratings.last().is_some_and(outside) {
            return Err(row_error(index, "ratings", "each submittedAt must lie between the first resolution and now"));
        }
    }
    let customer_id = resolve_customer(conn, index, row.customer, &mut known.customers_by_email)?;
    let assignee_id = match &row.assignee {
        None => None,
        Some(reference) => {
            let field = match reference {
                TechnicianRef::Id(_) => "assigneeId",
                TechnicianRef::Email(_) => "assigneeEmail",
            };
            Some(technician(conn, known, index, field, reference)?.0)
        }
    };
    let actors = &row.actors;
    let opened_by = actor_of(conn, known, index, "openedBy", actors.opened_by.as_ref(), importer)?;
    let mut step_actors = Vec::with_capacity(steps.len());
    for step in &steps {
        let (field, by) = match step.source {
            StepSource::FirstResponse => ("firstResponseBy".to_owned(), actors.first_response_by.as_ref()),
            StepSource::Resolution(n) => (format!("resolvedBy[{n}]"), actors.resolved_by.get(n)),
            StepSource::Reopen(n) => (format!("reopenedBy[{n}]"), actors.reopened_by.get(n)),
            StepSource::Close => ("closedBy".to_owned(), actors.closed_by.as_ref()),
        };
        step_actors.push(actor_of(conn, known, index, &field, by, importer)?);
    }
    let mut rating_actors = Vec::with_capacity(row.ratings.len());
    for rating in &row.ratings {
        rating_actors.push(actor_of(conn, known, index, "ratings.recordedBy", rating.recorded_by.as_ref(), importer)?);
    }

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

    let event = |at, actor: &str, kind, from: Option<String>, to: Option<String>, note: Option<String>| {
        NewTicketEvent { ticket_id: ticket.id, at, actor: actor.to_owned(), kind, from_value: from, to_value: to, note }
    };
    let opened = row.history.opened_at;
    let status_changes: Vec<_> = steps.iter().map(|step| (step.at, step.to)).collect();
    let sla_event = super::sla::apply_on_open(conn, &ticket, &status_changes, &opened_by)?;
    let mut events =
        vec![event(opened, &opened_by, EventKind::Created, None, Some("OPEN".into()), Some("imported".into()))];
    if let Some(assignee) = assignee_id {
        events.push(event(opened, &opened_by, EventKind::Assigned, None, Some(assignee.to_string()), None));
    }
    events.extend(sla_event);
    for (step, actor) in steps.into_iter().zip(&step_actors) {
        events.push(event(step.at, actor, step.kind, Some(step.from.to_string()), Some(step.to.to_string()), None));
    }
    // As if given in order: each rating supersedes the one before at the moment the next came.
    let mut ratings = Vec::with_capacity(row.ratings.len());
    let mut previous: Option<i16> = None;
    let superseded_at: Vec<Option<DateTime<Utc>>> =
        row.ratings.iter().skip(1).map(|next| Some(next.submitted_at)).chain([None]).collect();
    for ((rating, actor), superseded_at) in row.ratings.into_iter().zip(rating_actors).zip(superseded_at) {
        events.push(event(
            rating.submitted_at,
            &actor,
            EventKind::Rated,
            previous.map(|r| r.to_string()),
            Some(rating.rating.to_string()),
            rating.comment.clone(),
        ));
        previous = Some(rating.rating);
        ratings.push(NewSatisfactionRating {
            ticket_id: ticket.id,
            rating: rating.rating,
            comment: rating.comment,
            source: RatingSource::Import,
            submitted_by: actor,
            submitted_at: rating.submitted_at,
            superseded_at,
        });
    }
    if !ratings.is_empty() {
        diesel::insert_into(satisfaction_ratings::table).values(&ratings).execute(conn)?;
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
