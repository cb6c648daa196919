//! Rows into PostgreSQL with `COPY ... FROM STDIN (FORMAT binary)`.
//!
//! Binary rather than text or CSV: nothing to escape, and the server skips parsing timestamps and
//! numbers, which is most of its work for these narrow rows. Ids are written explicitly (COPY
//! accepts values for GENERATED ALWAYS identity columns); `mod.rs` reserves them.

use std::io::Write;

use diesel::pg::{CopyFormat, CopyTarget, PgConnection};
use diesel::prelude::*;
use diesel::{QueryResult, Table};

use super::generate::{Actor, DISPATCH_SUBJECT, History, INTAKE_SUBJECT, Population, SURVEY_SUBJECT, Value};
use super::generate::{Event, Interaction, Rating, TicketRow, ticket_number};
use crate::error::BoxError;
use crate::schema::{customers, interactions, satisfaction_ratings, ticket_events, tickets};

/// Signature, flags (no OIDs) and header-extension length of the binary COPY format.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
const TRAILER: &[u8] = &(-1i16).to_be_bytes();
/// 2000-01-01T00:00:00Z, PostgreSQL's epoch for binary timestamps.
const PG_EPOCH: i64 = 946_684_800;

/// Tuples of the binary COPY format for one table, without header and trailer.
#[derive(Debug, Default)]
pub struct CopyBuffer {
    data: Vec<u8>,
    rows: u64,
}

impl CopyBuffer {
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn row(&mut self, fields: i16) {
        self.data.extend_from_slice(&fields.to_be_bytes());
        self.rows += 1;
    }

    fn field(&mut self, bytes: &[u8]) {
        // Every value the generator writes is far below 2 GiB.
        let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
        self.data.extend_from_slice(&len.to_be_bytes());
        self.data.extend_from_slice(bytes);
    }

    fn null(&mut self) {
        self.data.extend_from_slice(&(-1i32).to_be_bytes());
    }

    fn int8(&mut self, value: i64) {
        self.field(&value.to_be_bytes());
    }

    fn int4(&mut self, value: i32) {
        self.field(&value.to_be_bytes());
    }

    fn int2(&mut self, value: i16) {
        self.field(&value.to_be_bytes());
    }

    fn text(&mut self, value: &str) {
        self.field(value.as_bytes());
    }

    /// Unix seconds as `timestamptz` (microseconds since 2000-01-01 UTC).
    fn timestamp(&mut self, unix: i64) {
        self.int8((unix - PG_EPOCH) * 1_000_000);
    }

    fn opt_int8(&mut self, value: Option<i64>) {
        match value {
            Some(v) => self.int8(v),
            None => self.null(),
        }
    }

    fn opt_int4(&mut self, value: Option<i32>) {
        match value {
            Some(v) => self.int4(v),
            None => self.null(),
        }
    }

    fn opt_text(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    fn opt_timestamp(&mut self, value: Option<i64>) {
        match value {
            Some(v) => self.timestamp(v),
            None => self.null(),
        }
    }
}

/// Runs one `COPY table (columns) FROM STDIN` with the buffer's rows; returns the rows copied.
/// Errors name the table (`name`), since the server's message often does not.
pub fn copy_into<T, C>(
    conn: &mut PgConnection,
    name: &str,
    table: T,
    columns: C,
    buffer: &CopyBuffer,
) -> Result<usize, BoxError>
where
    T: Table,
    C: CopyTarget<Table = T>,
{
    if buffer.rows == 0 {
        return Ok(0);
    }
    diesel::copy_from(table)
        .from_raw_data(columns, |out: &mut dyn Write| -> QueryResult<()> {
            let failed = |err: std::io::Error| diesel::result::Error::SerializationError(Box::new(err));
            out.write_all(HEADER).map_err(failed)?;
            // Pieces of 1 MiB keep libpq's send buffer small.
            for piece in buffer.data.chunks(1 << 20) {
                out.write_all(piece).map_err(failed)?;
            }
            out.write_all(TRAILER).map_err(failed)
        })
        .with_format(CopyFormat::Binary)
        .execute(conn)
        .map_err(|err| format!("loading {name}: {err}").into())
}

/// A column list for `COPY table (columns)`, as a constant: the tuple's type is its value.
macro_rules! columns {
    ($(#[$meta:meta])* $name:ident = $table:ident($($column:ident),+ $(,)?)) => {
        $(#[$meta])*
        pub const $name: ($($table::$column,)+) = ($($table::$column,)+);
    };
}

columns!(CUSTOMER_COLUMNS = customers(id, name, email, phone, organization, created_at, updated_at));
columns!(
    /// Without `external_ref` (NULL: not imported) and the generated `priority_rank`.
    TICKET_COLUMNS = tickets(
        id, number, customer_id, subject, description, category, priority, channel, status, assignee_id, opened_at,
        first_response_at, first_resolved_at, resolved_at, closed_at, reopen_count, version, created_at, updated_at,
    )
);
columns!(EVENT_COLUMNS = ticket_events(id, ticket_id, at, actor, kind, from_value, to_value, note));
columns!(
    INTERACTION_COLUMNS = interactions(
        id,
        customer_id,
        ticket_id,
        technician_id,
        channel,
        direction,
        occurred_at,
        duration_seconds,
        summary,
        logged_by,
        created_at,
    )
);
columns!(
    RATING_COLUMNS =
        satisfaction_ratings(id, ticket_id, rating, comment, source, submitted_by, submitted_at, superseded_at)
);

/// Customers with ids `first_id`, `first_id + 1`, ... in population order.
pub fn encode_customers(people: &Population, first_id: i64) -> CopyBuffer {
    let mut out = CopyBuffer::default();
    for (offset, customer) in (0i64..).zip(&people.customers) {
        out.row(7);
        out.int8(first_id + offset);
        out.text(&customer.name);
        out.opt_text(customer.email.as_deref());
        out.opt_text(customer.phone.as_deref());
        out.opt_text(customer.organization.as_deref());
        out.timestamp(customer.created_at);
        out.timestamp(customer.created_at);
    }
    out
}

/// The first id of each reserved block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdBases {
    pub customer: i64,
    pub ticket: i64,
    /// The first ticket number (`ticket_number_seq`).
    pub number: i64,
    pub event: i64,
    pub interaction: i64,
    pub rating: i64,
}

/// One batch of tickets with everything that belongs to them, ready to copy in this order.
#[derive(Debug, Default)]
pub struct Chunk {
    pub tickets: CopyBuffer,
    pub events: CopyBuffer,
    pub interactions: CopyBuffer,
    pub ratings: CopyBuffer,
}

/// Row counts written so far (and so ids used from each block).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub tickets: u64,
    pub events: u64,
    pub interactions: u64,
    pub ratings: u64,
}

/// Turns histories into rows: maps people to their ids and hands out the row ids.
pub struct Encoder<'a> {
    people: &'a Population,
    technician_ids: &'a [i64],
    bases: IdBases,
    counts: Counts,
}

impl<'a> Encoder<'a> {
    pub fn new(people: &'a Population, technician_ids: &'a [i64], bases: IdBases) -> Encoder<'a> {
        Encoder { people, technician_ids, bases, counts: Counts::default() }
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    fn actor(&self, actor: Actor) -> &'a str {
        match actor {
            Actor::Technician(index) => &self.people.technicians[index].email,
            Actor::Dispatch => DISPATCH_SUBJECT,
            Actor::Intake => INTAKE_SUBJECT,
            Actor::Survey => SURVEY_SUBJECT,
        }
    }

    fn customer_id(&self, index: usize) -> i64 {
        self.bases.customer + index as i64
    }

    pub fn push(&mut self, chunk: &mut Chunk, history: &History) {
        let ticket_id = self.bases.ticket + history.ticket.index as i64;
        self.ticket(&mut chunk.tickets, ticket_id, &history.ticket);
        for event in &history.events {
            self.event(&mut chunk.events, ticket_id, event);
        }
        for interaction in &history.interactions {
            self.interaction(&mut chunk.interactions, ticket_id, interaction);
        }
        for rating in &history.ratings {
            self.rating(&mut chunk.ratings, ticket_id, rating);
        }
        self.counts.tickets += 1;
    }

    fn ticket(&self, out: &mut CopyBuffer, id: i64, t: &TicketRow) {
        out.row(19);
        out.int8(id);
        out.text(&ticket_number(self.bases.number + t.index as i64));
        out.int8(self.customer_id(t.customer));
        out.text(t.subject);
        out.text(t.description);
        out.text(t.category);
        out.text(t.priority.as_str());
        out.text(t.channel.as_str());
        out.text(t.status.as_str());
        out.opt_int8(t.assignee.map(|index| self.technician_ids[index]));
        out.timestamp(t.opened_at);
        out.opt_timestamp(t.first_response_at);
        out.opt_timestamp(t.first_resolved_at);
        out.opt_timestamp(t.resolved_at);
        out.opt_timestamp(t.closed_at);
        out.int4(t.reopen_count);
        out.int4(t.version);
        out.timestamp(t.opened_at); // created_at: the history as if entered when it happened
        out.timestamp(t.updated_at);
    }

    fn value(&self, out: &mut CopyBuffer, value: Value) {
        match value {
            Value::None => out.null(),
            Value::Status(status) => out.text(status.as_str()),
            Value::Technician(index) => out.text(&self.technician_ids[index].to_string()),
            Value::Priority(priority) => out.text(priority.as_str()),
            Value::Rating(rating) => out.text(&rating.to_string()),
        }
    }

    fn event(&mut self, out: &mut CopyBuffer, ticket_id: i64, event: &Event) {
        out.row(8);
        out.int8(self.bases.event + self.counts.events as i64);
        out.int8(ticket_id);
        out.timestamp(event.at);
        out.text(self.actor(event.actor));
        out.text(event.kind.as_str());
        self.value(out, event.from);
        self.value(out, event.to);
        out.opt_text(event.note);
        self.counts.events += 1;
    }

    fn interaction(&mut self, out: &mut CopyBuffer, ticket_id: i64, interaction: &Interaction) {
        out.row(11);
        out.int8(self.bases.interaction + self.counts.interactions as i64);
        out.int8(self.customer_id(interaction.customer));
        out.opt_int8(interaction.on_ticket.then_some(ticket_id));
        out.opt_int8(interaction.technician.map(|index| self.technician_ids[index]));
        out.text(interaction.channel.as_str());
        out.text(interaction.direction.as_str());
        out.timestamp(interaction.at);
        out.opt_int4(interaction.duration_seconds);
        out.text(interaction.summary);
        out.text(self.actor(interaction.logged_by));
        out.timestamp(interaction.at);
        self.counts.interactions += 1;
    }

    fn rating(&mut self, out: &mut CopyBuffer, ticket_id: i64, rating: &Rating) {
        out.row(8);
        out.int8(self.bases.rating + self.counts.ratings as i64);
        out.int8(ticket_id);
        out.int2(i16::from(rating.rating));
        out.opt_text(rating.comment);
        out.text(rating.source.as_str());
        out.text(self.actor(rating.submitted_by));
        out.timestamp(rating.submitted_at);
        out.opt_timestamp(rating.superseded_at);
        self.counts.ratings += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_use_the_binary_copy_layout() {
        let mut out = CopyBuffer::default();
        out.row(4);
        out.int8(1);
        out.null();
        out.text("ab");
        out.timestamp(PG_EPOCH + 1);
        assert_eq!(out.rows(), 1);
        let expected: Vec<u8> = [
            &4i16.to_be_bytes()[..],
            &8i32.to_be_bytes(),
            &1i64.to_be_bytes(),
            &(-1i32).to_be_bytes(),
            &2i32.to_be_bytes(),
            b"ab",
            &8i32.to_be_bytes(),
            &1_000_000i64.to_be_bytes(),
        ]
        .concat();
        assert_eq!(out.data, expected);
        assert_eq!(HEADER.len(), 19);
    }
}
