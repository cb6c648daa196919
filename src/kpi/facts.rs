//! The packed fact rows of migration 2026-12-01-000010, decoded without copying.
//!
//! The database concatenates the `facts` of a period's rows into one bytea; each record is
//! self-delimiting, so [`DecodedFacts`] decodes them in turn. The layout is written down at the top of
//! that migration; [`tests`] pin it against the bytes PostgreSQL's send functions produce.

use std::collections::HashMap;

use crate::domain::{Direction, InteractionChannel};
use crate::error::AppError;

/// Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01 (UTC).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;
const ABSENT: i64 = i64::MIN;

/// Instants are microseconds since 1970-01-01 UTC.
pub type Micros = i64;

/// One ticket's facts, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketFact {
    pub opened_at: Micros,
    pub first_response_at: Option<Micros>,
    pub first_resolved_at: Option<Micros>,
    /// The latest resolution; none while the ticket is open again.
    pub resolved_at: Option<Micros>,
    pub closed_at: Option<Micros>,
    pub customer_id: i64,
    pub assignee_id: Option<i64>,
    /// RESOLVED or CLOSED now.
    pub now_resolved: bool,
    pub reopened: bool,
    /// The current rating and when it was submitted.
    pub rating: Option<(i16, Micros)>,
    /// Numbers into [`DecodedFacts::names`].
    pub category: u32,
    pub priority: u32,
    pub channel: u32,
    /// Where its resolutions and reopens (reopened tickets only) and its interactions are in
    /// [`DecodedFacts::status_changes`] and [`DecodedFacts::interactions`].
    pub status_changes: (u32, u32),
    pub interactions: (u32, u32),
    /// Where its SLA is in [`DecodedFacts::slas`], when it carries one.
    pub sla: Option<u32>,
}

/// What a ticket's SLA adds to its facts (migration 2026-12-02-000022).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlaFact {
    /// The calendar copy its clocks count in (`sla_calendar_copies`).
    pub calendar: i64,
    /// Targets in business microseconds.
    pub first_response_target: i64,
    pub resolution_target: i64,
    /// When the first response is due; none when the calendar has no such time.
    pub first_response_due_at: Option<Micros>,
    /// The instant the resolution clock ran past its target (in the future while it runs and
    /// has not yet); none while it has not and cannot without resuming.
    pub resolution_breach_at: Option<Micros>,
}

const STATUS_CHANGE_BYTES: usize = 10;
const INTERACTION_BYTES: usize = 22;

/// A value of packed fact rows (a sealed block, or a run of rows) decoded once: what the engine
/// passes over, and what a server keeps of a block in memory. Names are numbered within it, so
/// the engine looks each distinct name up once per value rather than once per ticket.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DecodedFacts {
    pub tickets: Vec<TicketFact>,
    /// (instant, -1 resolved / +1 reopened), each ticket's in order.
    pub status_changes: Vec<(Micros, i16)>,
    pub interactions: Vec<InteractionFact>,
    /// Interactions without a ticket.
    pub loose_interactions: Vec<InteractionFact>,
    pub slas: Vec<SlaFact>,
    /// The distinct category, priority and channel names (UTF-8 checked by the engine).
    pub names: Vec<Box<[u8]>>,
}

impl DecodedFacts {
    /// Decodes concatenated ticket fact rows.
    pub fn tickets(bytes: &[u8]) -> Result<DecodedFacts, AppError> {
        let mut facts = DecodedFacts::default();
        let mut names: HashMap<&[u8], u32> = HashMap::new();
        let mut reader = Reader::new(bytes);
        while !reader.is_empty() {
            let ticket = reader.ticket(&mut facts, &mut |name| {
                let next = u32::try_from(names.len()).unwrap_or(u32::MAX);
                *names.entry(name).or_insert(next)
            })?;
            facts.tickets.push(ticket);
        }
        let mut numbered: Vec<(&[u8], u32)> = names.into_iter().collect();
        numbered.sort_unstable_by_key(|(_, number)| *number);
        facts.names = numbered.into_iter().map(|(name, _)| name.into()).collect();
        // Kept for long in the block cache: no room to grow.
        facts.tickets.shrink_to_fit();
        facts.status_changes.shrink_to_fit();
        facts.interactions.shrink_to_fit();
        facts.slas.shrink_to_fit();
        Ok(facts)
    }

    /// Decodes concatenated fact rows of interactions without a ticket.
    pub fn loose_interactions(bytes: &[u8]) -> Result<DecodedFacts, AppError> {
        let mut facts = DecodedFacts::default();
        let mut reader = Reader::new(bytes);
        while !reader.is_empty() {
            facts.loose_interactions.push(reader.interaction()?);
        }
        Ok(facts)
    }

    pub fn status_changes_of(&self, ticket: &TicketFact) -> &[(Micros, i16)] {
        self.status_changes.get(ticket.status_changes.0 as usize..ticket.status_changes.1 as usize).unwrap_or(&[])
    }

    pub fn interactions_of(&self, ticket: &TicketFact) -> &[InteractionFact] {
        self.interactions.get(ticket.interactions.0 as usize..ticket.interactions.1 as usize).unwrap_or(&[])
    }

    pub fn sla_of(&self, ticket: &TicketFact) -> Option<&SlaFact> {
        self.slas.get(ticket.sla? as usize)
    }

    /// About the memory it takes, for the block cache's budget.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.tickets.capacity() * size_of::<TicketFact>()
            + self.status_changes.capacity() * size_of::<(Micros, i16)>()
            + (self.interactions.capacity() + self.loose_interactions.capacity()) * size_of::<InteractionFact>()
            + self.slas.capacity() * size_of::<SlaFact>()
            + self.names.iter().map(|name| name.len() + size_of::<Box<[u8]>>()).sum::<usize>()
    }
}

/// One interaction that no later entry corrects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InteractionFact {
    pub occurred_at: Micros,
    /// Who logged it.
    pub technician_id: Option<i64>,
    pub channel: InteractionChannel,
    pub direction: Direction,
    pub duration_seconds: i64,
}

impl InteractionFact {
    /// Its slot among the six channel and direction pairs: channel CALL, EMAIL, CHAT times two,
    /// plus direction INBOUND, OUTBOUND (the migration's code).
    pub fn kind_index(&self) -> usize {
        let channel = match self.channel {
            InteractionChannel::Call => 0,
            InteractionChannel::Email => 1,
            InteractionChannel::Chat => 2,
        };
        channel * 2 + usize::from(self.direction == Direction::Outbound)
    }

    pub fn from_kind_index(index: usize) -> (InteractionChannel, Direction) {
        let channel = [InteractionChannel::Call, InteractionChannel::Email, InteractionChannel::Chat][index / 2 % 3];
        (channel, if index.is_multiple_of(2) { Direction::Inbound } else { Direction::Outbound })
    }
}

/// Walks packed records.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

fn malformed() -> AppError {
    AppError::Internal("a KPI fact row does not decode (run `deskpulse kpi verify`)".into())
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    fn is_empty(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], AppError> {
        let end = self.at.checked_add(N).filter(|end| *end <= self.bytes.len()).ok_or_else(malformed)?;
        let mut out = [0; N];
        out.copy_from_slice(&self.bytes[self.at..end]);
        self.at = end;
        Ok(out)
    }

    fn i16(&mut self) -> Result<i16, AppError> {
        Ok(i16::from_be_bytes(self.take()?))
    }

    fn i32(&mut self) -> Result<i32, AppError> {
        Ok(i32::from_be_bytes(self.take()?))
    }

    fn i64(&mut self) -> Result<i64, AppError> {
        Ok(i64::from_be_bytes(self.take()?))
    }

    fn optional_id(&mut self) -> Result<Option<i64>, AppError> {
        Ok(Some(self.i64()?).filter(|id| *id != ABSENT))
    }

    fn optional_instant(&mut self) -> Result<Option<Micros>, AppError> {
        Ok(self.optional_id()?.map(|at| at + POSTGRES_EPOCH_MICROS))
    }

    fn instant(&mut self) -> Result<Micros, AppError> {
        self.optional_instant()?.ok_or_else(malformed)
    }

    fn text(&mut self) -> Result<&'a [u8], AppError> {
        let length = usize::try_from(self.i16()?).map_err(|_| malformed())?;
        let end = self.at.checked_add(length).filter(|end| *end <= self.bytes.len()).ok_or_else(malformed)?;
        let text = &self.bytes[self.at..end];
        self.at = end;
        Ok(text)
    }

    /// A count and that many records of `size` bytes.
    fn records(&mut self, size: usize) -> Result<&'a [u8], AppError> {
        let count = usize::try_from(self.i32()?).map_err(|_| malformed())?;
        let end =
            count.checked_mul(size).and_then(|bytes| self.at.checked_add(bytes)).filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(malformed)?;
        let records = &self.bytes[self.at..end];
        self.at = end;
        Ok(records)
    }

    fn interaction(&mut self) -> Result<InteractionFact, AppError> {
        let occurred_at = self.instant()?;
        let technician_id = self.optional_id()?;
        let kind = usize::try_from(self.i16()?).ok().filter(|kind| *kind < 6).ok_or_else(malformed)?;
        let (channel, direction) = InteractionFact::from_kind_index(kind);
        let duration_seconds = i64::from(self.i32()?);
        Ok(InteractionFact { occurred_at, technician_id, channel, direction, duration_seconds })
    }

    /// Decodes one ticket row, its status changes and interactions appended to `facts`, its
    /// names numbered by `number`.
    fn ticket(
        &mut self,
        facts: &mut DecodedFacts,
        number: &mut impl FnMut(&'a [u8]) -> u32,
    ) -> Result<TicketFact, AppError> {
        let opened_at = self.instant()?;
        let first_response_at = self.optional_instant()?;
        let first_resolved_at = self.optional_instant()?;
        let resolved_at = self.optional_instant()?;
        let closed_at = self.optional_instant()?;
        let customer_id = self.i64()?;
        let assignee_id = self.optional_id()?;
        let flags = self.i16()?;
        let rating_value = self.i16()?;
        let rated_at = self.optional_instant()?;
        let category = number(self.text()?);
        let priority = number(self.text()?);
        let channel = number(self.text()?);
        let position = |list_len: usize| u32::try_from(list_len).map_err(|_| malformed());
        let status_start = position(facts.status_changes.len())?;
        for mut record in self.records(STATUS_CHANGE_BYTES)?.chunks_exact(STATUS_CHANGE_BYTES).map(Reader::new) {
            facts.status_changes.push((record.instant()?, record.i16()?));
        }
        let status_changes = (status_start, position(facts.status_changes.len())?);
        let interaction_start = position(facts.interactions.len())?;
        for mut record in self.records(INTERACTION_BYTES)?.chunks_exact(INTERACTION_BYTES).map(Reader::new) {
            facts.interactions.push(record.interaction()?);
        }
        let interactions = (interaction_start, position(facts.interactions.len())?);
        let sla = if flags & 4 != 0 {
            let sla = SlaFact {
                calendar: self.i64()?,
                first_response_target: i64::from(self.i32()?) * 1_000_000,
                resolution_target: i64::from(self.i32()?) * 1_000_000,
                first_response_due_at: self.optional_instant()?,
                resolution_breach_at: self.optional_instant()?,
            };
            facts.slas.push(sla);
            Some(position(facts.slas.len() - 1)?)
        } else {
            None
        };
        Ok(TicketFact {
            opened_at,
            first_response_at,
            first_resolved_at,
            resolved_at,
            closed_at,
            customer_id,
            assignee_id,
            now_resolved: flags & 1 != 0,
            reopened: flags & 2 != 0,
            rating: rated_at.filter(|_| rating_value > 0).map(|at| (rating_value, at)),
            category,
            priority,
            channel,
            status_changes,
            interactions,
            sla,
        })
    }
}

/// Microseconds since 1970 of a chrono instant.
pub fn micros(at: chrono::DateTime<chrono::Utc>) -> Micros {
    at.timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interaction_kinds_round_trip() {
        for index in 0..6 {
            let (channel, direction) = InteractionFact::from_kind_index(index);
            let fact = InteractionFact { occurred_at: 0, technician_id: None, channel, direction, duration_seconds: 0 };
            assert_eq!(fact.kind_index(), index);
        }
    }

    #[test]
    fn a_truncated_row_is_an_error_not_a_panic() {
        let bytes = [0u8; 20];
        assert!(DecodedFacts::tickets(&bytes).is_err());
    }
}
