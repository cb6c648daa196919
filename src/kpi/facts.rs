//! The packed fact rows of migration 2026-12-01-000010, decoded without copying.
//!
//! The database concatenates the `facts` of a period's rows into one bytea; each record is
//! self-delimiting, so [`Reader`] walks them in turn. The layout is written down at the top of
//! that migration; [`tests`] pin it against the bytes PostgreSQL's send functions produce.

use crate::domain::{Direction, InteractionChannel};
use crate::error::AppError;

/// Microseconds between 1970-01-01 and PostgreSQL's epoch, 2000-01-01 (UTC).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;
const ABSENT: i64 = i64::MIN;

/// Instants are microseconds since 1970-01-01 UTC.
pub type Micros = i64;

/// One ticket's facts.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketFact<'a> {
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
    /// Names as the row holds them (UTF-8; validated once per distinct name by the engine).
    pub category: &'a [u8],
    pub priority: &'a [u8],
    pub channel: &'a [u8],
    /// Resolutions (-1) and reopens (+1) in order, for reopened tickets only.
    pub status_changes: Packed<'a, STATUS_CHANGE_BYTES>,
    pub interactions: Packed<'a, INTERACTION_BYTES>,
}

const STATUS_CHANGE_BYTES: usize = 10;
const INTERACTION_BYTES: usize = 22;

/// A list of fixed-size records inside a row, decoded as it is walked (no allocation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Packed<'a, const SIZE: usize>(&'a [u8]);

impl<'a, const SIZE: usize> Packed<'a, SIZE> {
    fn records(self) -> impl Iterator<Item = Reader<'a>> {
        self.0.chunks_exact(SIZE).map(Reader::new)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> Packed<'a, STATUS_CHANGE_BYTES> {
    /// (instant, -1 resolved / +1 reopened), in order.
    pub fn iter(self) -> impl Iterator<Item = (Micros, i16)> + 'a {
        self.records().filter_map(|mut record| Some((record.instant().ok()?, record.i16().ok()?)))
    }
}

impl<'a> Packed<'a, INTERACTION_BYTES> {
    pub fn iter(self) -> impl Iterator<Item = InteractionFact> + 'a {
        self.records().filter_map(|mut record| record.interaction().ok())
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
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

fn malformed() -> AppError {
    AppError::Internal("a KPI fact row does not decode (run `deskpulse kpi verify`)".into())
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    pub fn is_empty(&self) -> bool {
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

    pub fn interaction(&mut self) -> Result<InteractionFact, AppError> {
        let occurred_at = self.instant()?;
        let technician_id = self.optional_id()?;
        let kind = usize::try_from(self.i16()?).ok().filter(|kind| *kind < 6).ok_or_else(malformed)?;
        let (channel, direction) = InteractionFact::from_kind_index(kind);
        let duration_seconds = i64::from(self.i32()?);
        Ok(InteractionFact { occurred_at, technician_id, channel, direction, duration_seconds })
    }

    pub fn ticket(&mut self) -> Result<TicketFact<'a>, AppError> {
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
        let category = self.text()?;
        let priority = self.text()?;
        let channel = self.text()?;
        let status_changes = Packed(self.records(STATUS_CHANGE_BYTES)?);
        let interactions = Packed(self.records(INTERACTION_BYTES)?);
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
        assert!(Reader::new(&bytes).ticket().is_err());
    }
}
