//! `importTickets`: history import for scripts.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::staff::CustomerInput;
use super::tickets::TicketNode;
use super::{caller, cost, db, parse_id};
use crate::auth::{Role, RoleGuard};
use crate::domain::{Priority, TicketChannel};
use crate::error::AppError;
use crate::import::{
    ActorRecords, CustomerRecord, ImportRecord, RatingRecord, RatingsField, TechnicianRecord, validate_batch,
};
use crate::store;
use crate::store::import::RowOutcome;

/// A rating given in the imported system.
#[derive(InputObject)]
pub struct ImportRatingInput {
    pub rating: i32,
    pub comment: Option<String>,
    pub submitted_at: DateTime<Utc>,
    /// The technician who recorded it (the actor of its RATED event); default the importer.
    pub recorded_by: Option<ImportTechnicianInput>,
}

/// A technician named in imported history, by id or by e-mail address (one of the two). Their
/// e-mail address becomes the actor of the events they are named for.
#[derive(InputObject)]
pub struct ImportTechnicianInput {
    pub id: Option<ID>,
    pub email: Option<String>,
}

impl ImportTechnicianInput {
    fn into_record(self, field: &str) -> Result<TechnicianRecord, AppError> {
        match (self.id, self.email) {
            (Some(id), None) => Ok(TechnicianRecord::Id(parse_id(&format!("{field}.id"), &id)?)),
            (None, Some(email)) => Ok(TechnicianRecord::Email(email)),
            _ => Err(AppError::bad_input(field, "give the technician's id or e-mail, one of the two")),
        }
    }
}

impl ImportRatingInput {
    fn into_record(self, field: &str) -> Result<RatingRecord, AppError> {
        Ok(RatingRecord {
            rating: self.rating,
            comment: self.comment,
            submitted_at: self.submitted_at,
            recorded_by: self.recorded_by.map(|by| by.into_record(&format!("{field}.recordedBy"))).transpose()?,
        })
    }
}

/// A historical ticket with its whole history. The status follows from the history: CLOSED when
/// closed, RESOLVED when the last resolution was not reopened, IN_PROGRESS after a first response
/// or a reopen, OPEN otherwise.
#[derive(InputObject)]
pub struct ImportTicketInput {
    /// The ticket's id in the system it comes from: re-sending it changes nothing.
    pub external_ref: String,
    pub customer_id: Option<ID>,
    /// A customer by details: matched by e-mail when one with that address exists, else created.
    pub customer: Option<CustomerInput>,
    pub subject: String,
    #[graphql(default)]
    pub description: String,
    pub category: String,
    #[graphql(default_with = "Priority::Normal")]
    pub priority: Priority,
    pub channel: TicketChannel,
    pub assignee_id: Option<ID>,
    pub assignee_email: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    /// Every resolution, in order.
    #[graphql(default)]
    pub resolved_at: Vec<DateTime<Utc>>,
    /// Every reopen, in order (each after the resolution it undoes).
    #[graphql(default)]
    pub reopened_at: Vec<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The ticket's one rating; `ratings` carries several. Give one of the two at most.
    pub rating: Option<ImportRatingInput>,
    /// Every rating the ticket was given, in any order: the latest (by submittedAt) is its
    /// current rating and each earlier one is superseded by the next, as if they had been given
    /// in that order (one RATED event each).
    #[graphql(default)]
    pub ratings: Vec<ImportRatingInput>,
    /// Who logged the ticket: the actor of its CREATED event (and of the ASSIGNED event an
    /// assignee gives it). Every actor defaults to the importer (the token's subject).
    pub opened_by: Option<ImportTechnicianInput>,
    /// Who answered first: the actor of the move to IN_PROGRESS a first response before the
    /// first resolution implies (ignored when it implies none).
    pub first_response_by: Option<ImportTechnicianInput>,
    /// Who made each resolution, in the order of resolvedAt: one per resolution, or none.
    #[graphql(default)]
    pub resolved_by: Vec<ImportTechnicianInput>,
    /// Who made each reopen, in the order of reopenedAt: one per reopen, or none.
    #[graphql(default)]
    pub reopened_by: Vec<ImportTechnicianInput>,
    pub closed_by: Option<ImportTechnicianInput>,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    Created,
    /// A ticket with this external reference was imported before: nothing changed.
    AlreadyImported,
}

#[derive(SimpleObject)]
pub struct ImportedTicket {
    pub external_ref: String,
    pub outcome: ImportOutcome,
    pub ticket: TicketNode,
}

#[derive(SimpleObject)]
pub struct ImportResult {
    pub created: i32,
    pub already_imported: i32,
    pub tickets: Vec<ImportedTicket>,
}

impl ImportTicketInput {
    fn into_record(self, index: usize) -> Result<ImportRecord, AppError> {
        let id = |name: &str, value: Option<ID>| {
            value.map(|value| parse_id(&format!("batch[{index}].{name}"), &value)).transpose()
        };
        let field = |name: &str| format!("batch[{index}].{name}");
        let (ratings, ratings_field) = match (self.rating, self.ratings.is_empty()) {
            (Some(_), false) => return Err(AppError::bad_input(field("ratings"), "give rating or ratings, not both")),
            (Some(rating), true) => (vec![rating.into_record(&field("rating"))?], RatingsField::Single),
            (None, _) => {
                let ratings = self.ratings.into_iter().enumerate();
                let records = ratings.map(|(i, r)| r.into_record(&field(&format!("ratings[{i}]"))));
                (records.collect::<Result<_, _>>()?, RatingsField::List)
            }
        };
        let one = |name: &str, by: Option<ImportTechnicianInput>| by.map(|by| by.into_record(&field(name))).transpose();
        let each = |name: &str, by: Vec<ImportTechnicianInput>| {
            let records = by.into_iter().enumerate().map(|(i, by)| by.into_record(&field(&format!("{name}[{i}]"))));
            records.collect::<Result<Vec<_>, AppError>>()
        };
        let actors = ActorRecords {
            opened_by: one("openedBy", self.opened_by)?,
            first_response_by: one("firstResponseBy", self.first_response_by)?,
            resolved_by: each("resolvedBy", self.resolved_by)?,
            reopened_by: each("reopenedBy", self.reopened_by)?,
            closed_by: one("closedBy", self.closed_by)?,
        };
        Ok(ImportRecord {
            customer_id: id("customerId", self.customer_id)?,
            assignee_id: id("assigneeId", self.assignee_id)?,
            external_ref: self.external_ref,
            customer: self.customer.map(|c| CustomerRecord {
                name: c.name,
                email: c.email,
                phone: c.phone,
                organization: c.organization,
            }),
            subject: self.subject,
            description: self.description,
            category: self.category,
            priority: self.priority,
            channel: self.channel,
            assignee_email: self.assignee_email,
            opened_at: self.opened_at,
            first_response_at: self.first_response_at,
            resolved_at: self.resolved_at,
            reopened_at: self.reopened_at,
            closed_at: self.closed_at,
            actors,
            ratings,
            ratings_field,
        })
    }
}

#[derive(Default)]
pub struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Imports up to 1,000 historical tickets in one transaction: the tickets, the events their
    /// history implies (each by the technician named for it, else the importer) and their
    /// ratings. Idempotent by externalRef: a re-sent ticket is reported ALREADY_IMPORTED and
    /// left as it is. One bad ticket fails the whole batch, naming the row (`batch[i]`) and the
    /// field. SUPERVISOR and ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Supervisor)", complexity = "cost::import(batch.len(), child_complexity)")]
    async fn import_tickets(&self, ctx: &Context<'_>, batch: Vec<ImportTicketInput>) -> Result<ImportResult, AppError> {
        let actor = caller(ctx)?.subject.clone();
        let records = batch.into_iter().enumerate().map(|(i, input)| input.into_record(i)).collect::<Result<_, _>>()?;
        let rows = validate_batch(records)?;
        let now = Utc::now();
        let outcomes = db(ctx)?.run(move |conn| store::import::import_batch(conn, rows, &actor, now)).await?;
        Ok(import_result(outcomes))
    }
}

fn import_result(outcomes: Vec<RowOutcome>) -> ImportResult {
    let mut result = ImportResult { created: 0, already_imported: 0, tickets: Vec::with_capacity(outcomes.len()) };
    for outcome in outcomes {
        let (outcome, ticket) = match outcome {
            RowOutcome::Created(ticket) => {
                result.created += 1;
                (ImportOutcome::Created, ticket)
            }
            RowOutcome::AlreadyImported(ticket) => {
                result.already_imported += 1;
                (ImportOutcome::AlreadyImported, ticket)
            }
        };
        result.tickets.push(ImportedTicket {
            external_ref: ticket.external_ref.clone().unwrap_or_default(),
            outcome,
            ticket: TicketNode::new(ticket),
        });
    }
    result
}
