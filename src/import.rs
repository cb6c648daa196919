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
use crate::store::import::{ImportAssignee, ImportCustomer, ImportRating, ImportRow};

/// A customer given by details rather than by id.
#[derive(Debug, Clone, Default)]
pub struct CustomerRecord {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub organization: Option<String>,
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
    pub rating: Option<i32>,
    pub rating_comment: Option<String>,
    pub rated_at: Option<DateTime<Utc>>,
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
            (Some(id), None) => Some(ImportAssignee::Id(id)),
            (None, Some(email)) => Some(ImportAssignee::Email(limits::email(&field("assigneeEmail"), &email)?)),
            (None, None) => None,
        };
        let rating = match (self.rating, self.rated_at) {
            (None, None) if self.rating_comment.is_none() => None,
            (Some(rating), Some(submitted_at)) => {
                if !(1..=5).contains(&rating) {
                    return Err(AppError::bad_input(field("rating.rating"), format!("must be 1 to 5, got {rating}")));
                }
                Some(ImportRating {
                    rating: rating as i16,
                    comment: limits::optional_text(
                        &field("rating.comment"),
                        self.rating_comment.as_deref(),
                        COMMENT_MAX,
                    )?,
                    submitted_at,
                })
            }
            _ => return Err(AppError::bad_input(field("rating"), "a rating needs its value and its submittedAt")),
        };
        Ok(ImportRow {
            external_ref: limits::required_text(&field("externalRef"), &self.external_ref, EXTERNAL_REF_MAX)?,
            customer,
            subject: limits::required_text(&field("subject"), &self.subject, SUBJECT_MAX)?,
            description: limits::free_text(&field("description"), &self.description, DESCRIPTION_MAX)?,
            category: limits::required_text(&field("category"), &self.category, CATEGORY_MAX)?,
            priority: self.priority,
            channel: self.channel,
            assignee,
            history: History {
                opened_at: self.opened_at,
                first_response_at: self.first_response_at,
                resolutions: self.resolved_at,
                reopens: self.reopened_at,
                closed_at: self.closed_at,
            },
            rating,
        })
    }
}

/// The CSV header `deskpulse import` reads (docs/import.md describes each column). Lists of
/// instants (`resolved_at`, `reopened_at`) are separated by `;`. Empty cells are absent values.
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

impl CsvRow {
    /// Turns a CSV row (on `line` of its file) into a record; errors name the line and column.
    pub fn into_record(self, line: u64) -> Result<ImportRecord, AppError> {
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
            rating: parse_cell(line, "rating", self.rating)?,
            rating_comment: present(self.rating_comment),
            rated_at: parse_cell(line, "rated_at", self.rated_at)?,
        })
    }
}

fn required_enum<T: std::str::FromStr<Err = String>>(line: u64, column: &str, value: &str) -> Result<T, AppError> {
    value.trim().parse().map_err(|err| AppError::bad_input(format!("line {line}.{column}"), err))
}
