//! History import, shared by `importTickets` (GraphQL) and `deskpulse import FILE.csv`: one record
//! shape, one validation, one store function.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::lifecycle::History;
use crate::domain::limits::{
    self, CATEGORY_MAX, COMMENT_MAX, DESCRIPTION_MAX, EXTERNAL_REF_MAX, IMPORT_BATCH_MAX, NAME_MAX, ORGANIZATION_MAX,
    PHONE_MAX, SUBJECT_MAX,
};
use crate::domain::{Priority, TicketChannel};
use crate::error::AppError;
use crate::models::NewCustomer;
use crate::store::import::{EventActors, ImportCustomer, ImportRating, ImportRow, TechnicianRef};

/// A customer given by details rather than by id.
#[derive(Debug, Clone, Default)]
pub struct CustomerRecord {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub organization: Option<String>,
}

/// A technician named by a script: by id or by e-mail address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TechnicianRecord {
    Id(i64),
    Email(String),
}

/// One rating a ticket was given, as a script sends it.
#[derive(Debug, Clone)]
pub struct RatingRecord {
    pub rating: i32,
    pub comment: Option<String>,
    pub submitted_at: DateTime<Utc>,
    /// Who recorded it; default the importer.
    pub recorded_by: Option<TechnicianRecord>,
}

/// Who made each change of an imported history; None (or an empty list) is the importer.
#[derive(Debug, Clone, Default)]
pub struct ActorRecords {
    /// The CREATED event, and the ASSIGNED one an assignee gives it.
    pub opened_by: Option<TechnicianRecord>,
    pub first_response_by: Option<TechnicianRecord>,
    /// One per resolution, in order, or none.
    pub resolved_by: Vec<TechnicianRecord>,
    /// One per reopen, in order, or none.
    pub reopened_by: Vec<TechnicianRecord>,
    pub closed_by: Option<TechnicianRecord>,
}

/// One historical ticket as a script sends it, before validation.
#[derive(Debug, Clone)]
pub struct ImportRecord {
    pub external_ref: String,
    pub customer_id: Option<i64>,
    pub customer: Option<CustomerRecord>,
    pub subject: String,
    pub description: String,
    pub category: String,
    pub priority: Priority,
    pub channel: TicketChannel,
    pub assignee_id: Option<i64>,
    pub assignee_email: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    /// Every resolution, in order.
    pub resolved_at: Vec<DateTime<Utc>>,
    /// Every reopen, in order.
    pub reopened_at: Vec<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub actors: ActorRecords,
    /// Every rating the ticket was given, in any order: the latest is its current rating.
    pub ratings: Vec<RatingRecord>,
    /// Where the ratings came from, for errors: one `rating`, or the `ratings` list.
    pub ratings_field: RatingsField,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RatingsField {
    /// `rating`: errors name `rating.rating`.
    Single,
    /// `ratings`: errors name `ratings[i].rating`.
    #[default]
    List,
}

/// Checks a batch's size and every record's shape; errors name `batch[i].field`.
pub fn validate_batch(records: Vec<ImportRecord>) -> Result<Vec<ImportRow>, AppError> {
    if records.is_empty() || records.len() > IMPORT_BATCH_MAX {
        return Err(AppError::bad_input(
            "batch",
            format!("must hold 1 to {IMPORT_BATCH_MAX} tickets, got {}", records.len()),
        ));
    }
    records.into_iter().enumerate().map(|(index, record)| record.validate(index)).collect()
}

impl ImportRecord {
    fn validate(self, index: usize) -> Result<ImportRow, AppError> {
        let field = |name: &str| format!("batch[{index}].{name}");
        let customer = match (self.customer_id, self.customer) {
            (Some(id), None) => ImportCustomer::Existing(id),
            (None, Some(details)) => ImportCustomer::Details(NewCustomer {
                name: limits::required_text(&field("customer.name"), &details.name, NAME_MAX)?,
                email: details.email.as_deref().map(|e| limits::email(&field("customer.email"), e)).transpose()?,
                phone: limits::optional_text(&field("customer.phone"), details.phone.as_deref(), PHONE_MAX)?,
                organization: limits::optional_text(
                    &field("customer.organization"),
                    details.organization.as_deref(),
                    ORGANIZATION_MAX,
                )?,
            }),
            _ => return Err(AppError::bad_input(field("customerId"), "give either customerId or customer")),
        };
        let assignee = match (self.assignee_id, self.assignee_email) {
            (Some(_), Some(_)) => {
                return Err(AppError::bad_input(field("assigneeId"), "give assigneeId or assigneeEmail, not both"));
            }
            (Some(id), None) => Some(TechnicianRef::Id(id)),
            (None, Some(email)) => Some(TechnicianRef::Email(limits::email(&field("assigneeEmail"), &email)?)),
            (None, None) => None,
        };
        let technician = |name: String, record: TechnicianRecord| -> Result<TechnicianRef, AppError> {
            Ok(match record {
                TechnicianRecord::Id(id) => TechnicianRef::Id(id),
                TechnicianRecord::Email(email) => {
                    TechnicianRef::Email(limits::email(&format!("{name}.email"), &email)?)
                }
            })
        };
        let technicians = |name: &str, records: Vec<TechnicianRecord>, steps: usize| {
            if !records.is_empty() && records.len() != steps {
                return Err(AppError::bad_input(
                    field(name),
                    format!("names {} technicians for {steps} steps: give one per step, or none", records.len()),
                ));
            }
            records
                .into_iter()
                .enumerate()
                .map(|(i, record)| technician(field(&format!("{name}[{i}]")), record))
                .collect::<Result<Vec<_>, _>>()
        };
        let actors = self.actors;
        if actors.first_response_by.is_some() && self.first_response_at.is_none() {
            return Err(AppError::bad_input(
                field("firstResponseBy"),
                "names who answered first, but firstResponseAt is missing",
            ));
        }
        if actors.closed_by.is_some() && self.closed_at.is_none() {
            return Err(AppError::bad_input(field("closedBy"), "names who closed the ticket, but closedAt is missing"));
        }
        let actors = EventActors {
            opened_by: actors.opened_by.map(|r| technician(field("openedBy"), r)).transpose()?,
            first_response_by: actors.first_response_by.map(|r| technician(field("firstResponseBy"), r)).transpose()?,
            resolved_by: technicians("resolvedBy", actors.resolved_by, self.resolved_at.len())?,
            reopened_by: technicians("reopenedBy", actors.reopened_by, self.reopened_at.len())?,
            closed_by: actors.closed_by.map(|r| technician(field("closedBy"), r)).transpose()?,
        };
        let mut ratings = self
            .ratings
            .into_iter()
            .enumerate()
            .map(|(i, record)| {
                let name = |part: &str| match self.ratings_field {
                    RatingsField::Single => field(&format!("rating.{part}")),
                    RatingsField::List => field(&format!("ratings[{i}].{part}")),
                };
                if !(1..=5).contains(&record.rating) {
                    return Err(AppError::bad_input(name("rating"), format!("must be 1 to 5, got {}", record.rating)));
                }
                Ok(ImportRating {
                    rating: record.rating as i16,
                    comment: limits::optional_text(&name("comment"), record.comment.as_deref(), COMMENT_MAX)?,
                    submitted_at: record.submitted_at,
                    recorded_by: record.recorded_by.map(|r| technician(name("recordedBy"), r)).transpose()?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // As if given in order: each supersedes the one before.
        ratings.sort_by_key(|rating| rating.submitted_at);
        if ratings.windows(2).any(|pair| pair[0].submitted_at == pair[1].submitted_at) {
            return Err(AppError::bad_input(field("ratings"), "two ratings have the same submittedAt"));
        }
        Ok(ImportRow {
            external_ref: limits::required_text(&field("externalRef"), &self.external_ref, EXTERNAL_REF_MAX)?,
            customer,
            subject: limits::required_text(&field("subject"), &self.subject, SUBJECT_MAX)?,
            description: limits::free_text(&field("description"), &self.description, DESCRIPTION_MAX)?,
            category: limits::required_text(&field("category"), &self.category, CATEGORY_MAX)?,
            priority: self.priority,
            channel: self.channel,
            assignee,
            actors,
            history: History {
                opened_at: self.opened_at,
                first_response_at: self.first_response_at,
                resolutions: self.resolved_at,
                reopens: self.reopened_at,
                closed_at: self.closed_at,
            },
            ratings,
        })
    }
}

/// The columns every CSV file `deskpulse import` reads has (docs/import.md describes each). The
/// `_by` columns (who made each change) may be left out, as files written before they existed
/// do. Lists (`resolved_at`, `reopened_at`, their `_by` columns, the rating columns) are
/// separated by `;`. Empty cells are absent values.
pub const CSV_COLUMNS: &[&str] = &[
    "external_ref",
    "customer_id",
    "customer_name",
    "customer_email",
    "customer_phone",
    "customer_organization",
    "subject",
    "description",
    "category",
    "priority",
    "channel",
    "assignee_id",
    "assignee_email",
    "opened_at",
    "first_response_at",
    "resolved_at",
    "reopened_at",
    "closed_at",
    "rating",
    "rating_comment",
    "rated_at",
];

#[derive(Debug, Clone, Deserialize)]
pub struct CsvRow {
    external_ref: String,
    customer_id: Option<String>,
    customer_name: Option<String>,
    customer_email: Option<String>,
    customer_phone: Option<String>,
    customer_organization: Option<String>,
    subject: String,
    description: Option<String>,
    category: String,
    priority: Option<String>,
    channel: String,
    assignee_id: Option<String>,
    assignee_email: Option<String>,
    opened_at: String,
    first_response_at: Option<String>,
    resolved_at: Option<String>,
    reopened_at: Option<String>,
    closed_at: Option<String>,
    rating: Option<String>,
    rating_comment: Option<String>,
    rated_at: Option<String>,
    #[serde(default)]
    opened_by: Option<String>,
    #[serde(default)]
    first_response_by: Option<String>,
    #[serde(default)]
    resolved_by: Option<String>,
    #[serde(default)]
    reopened_by: Option<String>,
    #[serde(default)]
    closed_by: Option<String>,
    #[serde(default)]
    rated_by: Option<String>,
}

fn present(cell: Option<String>) -> Option<String> {
    cell.map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
}

fn parse_cell<T: std::str::FromStr>(line: u64, column: &str, cell: Option<String>) -> Result<Option<T>, AppError>
where
    T::Err: std::fmt::Display,
{
    present(cell)
        .map(|value| {
            value
                .parse::<T>()
                .map_err(|err| AppError::bad_input(format!("line {line}.{column}"), format!("{value:?}: {err}")))
        })
        .transpose()
}

fn parse_instants(line: u64, column: &str, cell: Option<String>) -> Result<Vec<DateTime<Utc>>, AppError> {
    present(cell)
        .map(|value| {
            value
                .split(';')
                .map(|item| parse_cell::<DateTime<Utc>>(line, column, Some(item.to_owned())))
                .filter_map(Result::transpose)
                .collect()
        })
        .unwrap_or_else(|| Ok(Vec::new()))
}

/// The `;`-separated items of a list cell, trimmed; none for an empty cell.
fn list_items(cell: Option<String>) -> Vec<String> {
    present(cell).map(|value| value.split(';').map(|item| item.trim().to_owned()).collect()).unwrap_or_default()
}

/// A technician cell: an e-mail address (it holds `@`) or an id.
fn technician_cell(line: u64, column: &str, cell: &str) -> Result<TechnicianRecord, AppError> {
    if cell.contains('@') {
        return Ok(TechnicianRecord::Email(cell.to_owned()));
    }
    cell.parse::<i64>().map(TechnicianRecord::Id).map_err(|_| {
        AppError::bad_input(
            format!("line {line}.{column}"),
            format!("{cell:?} is neither a technician id nor an e-mail"),
        )
    })
}

fn technician_cells(line: u64, column: &str, cell: Option<String>) -> Result<Vec<TechnicianRecord>, AppError> {
    list_items(cell).iter().map(|item| technician_cell(line, column, item)).collect()
}

fn one_technician(line: u64, column: &str, cell: Option<String>) -> Result<Option<TechnicianRecord>, AppError> {
    present(cell).map(|value| technician_cell(line, column, &value)).transpose()
}

/// The comments of `count` ratings: with one rating the cell as it is; with several, one per
/// rating separated by `;` (a `;` inside a comment written `\;`), or an empty cell for none.
fn rating_comments(line: u64, count: usize, cell: Option<String>) -> Result<Vec<Option<String>>, AppError> {
    let Some(cell) = present(cell) else { return Ok(vec![None; count]) };
    if count == 1 {
        return Ok(vec![Some(cell)]);
    }
    let (mut comments, mut current) = (Vec::new(), String::new());
    let mut chars = cell.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&';') => {
                chars.next();
                current.push(';');
            }
            ';' => comments.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    comments.push(current);
    if comments.len() != count {
        return Err(AppError::bad_input(
            format!("line {line}.rating_comment"),
            format!(
                "{} comments for {count} ratings: one per rating (write a ; inside one as \\;), or none",
                comments.len()
            ),
        ));
    }
    Ok(comments.into_iter().map(|comment| Some(comment.trim().to_owned()).filter(|c| !c.is_empty())).collect())
}

impl CsvRow {
    /// The row's ratings: `rating` and `rated_at` list them in step, `rating_comment` and
    /// `rated_by` go with them.
    fn ratings(&mut self, line: u64) -> Result<Vec<RatingRecord>, AppError> {
        let values = list_items(self.rating.take());
        let instants = parse_instants(line, "rated_at", self.rated_at.take())?;
        if values.len() != instants.len() {
            return Err(AppError::bad_input(
                format!("line {line}.rated_at"),
                format!(
                    "{} instants for {} ratings: a rating needs its value and its time",
                    instants.len(),
                    values.len()
                ),
            ));
        }
        let comments = rating_comments(line, values.len(), self.rating_comment.take())?;
        let recorders = technician_cells(line, "rated_by", self.rated_by.take())?;
        if !recorders.is_empty() && recorders.len() != values.len() {
            return Err(AppError::bad_input(format!("line {line}.rated_by"), "one technician per rating, or none"));
        }
        let mut recorders = recorders.into_iter();
        values
            .into_iter()
            .zip(instants)
            .zip(comments)
            .map(|((value, submitted_at), comment)| {
                let rating = value
                    .parse::<i32>()
                    .map_err(|err| AppError::bad_input(format!("line {line}.rating"), format!("{value:?}: {err}")))?;
                Ok(RatingRecord { rating, comment, submitted_at, recorded_by: recorders.next() })
            })
            .collect()
    }

    /// Turns a CSV row (on `line` of its file) into a record; errors name the line and column.
    pub fn into_record(mut self, line: u64) -> Result<ImportRecord, AppError> {
        let ratings = self.ratings(line)?;
        let actors = ActorRecords {
            opened_by: one_technician(line, "opened_by", self.opened_by)?,
            first_response_by: one_technician(line, "first_response_by", self.first_response_by)?,
            resolved_by: technician_cells(line, "resolved_by", self.resolved_by)?,
            reopened_by: technician_cells(line, "reopened_by", self.reopened_by)?,
            closed_by: one_technician(line, "closed_by", self.closed_by)?,
        };
        let customer = present(self.customer_name.clone()).map(|name| CustomerRecord {
            name,
            email: present(self.customer_email),
            phone: present(self.customer_phone),
            organization: present(self.customer_organization),
        });
        let required = |column: &str, value: Option<DateTime<Utc>>| {
            value.ok_or_else(|| AppError::bad_input(format!("line {line}.{column}"), "is required"))
        };
        Ok(ImportRecord {
            external_ref: self.external_ref,
            customer_id: parse_cell(line, "customer_id", self.customer_id)?,
            customer,
            subject: self.subject,
            description: self.description.unwrap_or_default(),
            category: self.category,
            priority: parse_cell(line, "priority", self.priority)?.unwrap_or(Priority::Normal),
            channel: required_enum(line, "channel", &self.channel)?,
            assignee_id: parse_cell(line, "assignee_id", self.assignee_id)?,
            assignee_email: present(self.assignee_email),
            opened_at: required("opened_at", parse_cell(line, "opened_at", Some(self.opened_at))?)?,
            first_response_at: parse_cell(line, "first_response_at", self.first_response_at)?,
            resolved_at: parse_instants(line, "resolved_at", self.resolved_at)?,
            reopened_at: parse_instants(line, "reopened_at", self.reopened_at)?,
            closed_at: parse_cell(line, "closed_at", self.closed_at)?,
            actors,
            ratings,
            ratings_field: RatingsField::List,
        })
    }
}

fn required_enum<T: std::str::FromStr<Err = String>>(line: u64, column: &str, value: &str) -> Result<T, AppError> {
    value.trim().parse().map_err(|err| AppError::bad_input(format!("line {line}.{column}"), err))
}
