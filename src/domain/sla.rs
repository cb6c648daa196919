//! Service-level targets in business time: calendars (a time zone, weekly opening hours,
//! holidays), the arithmetic that counts and adds business time across daylight-saving changes
//! and holidays, and the rules of the two SLA clocks (docs/sla.md).
//!
//! Plain Rust without I/O: the store keeps what these functions compute, the GraphQL layer shows
//! it.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::TicketStatus;

/// Minutes in a day: an opening interval ends at most at 24:00.
pub const DAY_MINUTES: u16 = 24 * 60;
/// How far ahead a due instant is looked for: a calendar open one hour a year still has one.
const HORIZON_DAYS: i64 = 3 * 366;
/// The share of a target at which a running clock is AT_RISK, unless the policy says otherwise.
pub const DEFAULT_AT_RISK_PERCENT: i16 = 80;

/// One opening interval of a weekday, `[start, end)` in minutes after local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpeningInterval {
    pub start: u16,
    pub end: u16,
}

/// A day off: one date, or the same day every year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    pub date: NaiveDate,
    #[serde(default)]
    pub yearly: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Holiday {
    pub fn falls_on(&self, date: NaiveDate) -> bool {
        if self.yearly { (self.date.month(), self.date.day()) == (date.month(), date.day()) } else { self.date == date }
    }
}

/// When business time passes: opening hours per weekday in a time zone, less holidays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Calendar {
    #[serde(with = "zone_name")]
    pub time_zone: Tz,
    /// Monday first; a day without intervals is a day off.
    pub week: [Vec<OpeningInterval>; 7],
    #[serde(default)]
    pub holidays: Vec<Holiday>,
}

mod zone_name {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(zone: &Tz, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(zone.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse::<Tz>().map_err(|_| serde::de::Error::custom(format!("{name:?} is not an IANA time zone")))
    }
}

/// Why a calendar cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidCalendar {
    pub field: String,
    pub message: String,
}

impl Calendar {
    /// Open around the clock in UTC, no holidays: the default calendar.
    pub fn always_open() -> Calendar {
        let day = vec![OpeningInterval { start: 0, end: DAY_MINUTES }];
        Calendar { time_zone: Tz::UTC, week: std::array::from_fn(|_| day.clone()), holidays: Vec::new() }
    }

    /// Intervals sorted, each non-empty, within the day and apart; at least one open day.
    pub fn validate(&self) -> Result<(), InvalidCalendar> {
        let invalid = |field: String, message: &str| InvalidCalendar { field, message: message.to_owned() };
        for (day, intervals) in self.week.iter().enumerate() {
            let field = format!("weeklyHours[{day}]");
            let mut previous_end = None;
            for interval in intervals {
                if interval.start >= interval.end || interval.end > DAY_MINUTES {
                    return Err(invalid(field, "each interval starts before it ends, within 00:00-24:00"));
                }
                if previous_end.is_some_and(|end| interval.start < end) {
                    return Err(invalid(field, "intervals must be in order and must not overlap"));
                }
                previous_end = Some(interval.end);
            }
        }
        if self.week.iter().all(Vec::is_empty) {
            return Err(invalid("weeklyHours".into(), "at least one day needs opening hours"));
        }
        Ok(())
    }

    fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays.iter().any(|holiday| holiday.falls_on(date))
    }

    /// The instant a local wall-clock time names. A time skipped by a change (02:30 on a March
    /// change) names the change itself; a time that occurs twice names its first occurrence.
    /// Both keep the mapping monotonic, so adjacent intervals never overlap.
    fn instant(&self, date: NaiveDate, minute: u16) -> DateTime<Utc> {
        let (date, minute) = if minute >= DAY_MINUTES { (date + Duration::days(1), 0) } else { (date, minute) };
        let mut local = NaiveDateTime::new(date, minute_time(minute));
        for _ in 0..=24 * 60 {
            match self.time_zone.from_local_datetime(&local) {
                LocalResult::Single(at) => return at.with_timezone(&Utc),
                LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
                // In a gap: the first wall-clock minute after it is the instant of the change.
                LocalResult::None => local += Duration::minutes(1),
            }
        }
        // No zone has a day-long gap; fall back to reading the wall clock as UTC.
        Utc.from_utc_datetime(&NaiveDateTime::new(date, minute_time(minute)))
    }

    /// The open instants of one local date, `[start, end)` each, in order.
    fn open_on(&self, date: NaiveDate) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let intervals: &[OpeningInterval] =
            if self.is_holiday(date) { &[] } else { &self.week[date.weekday().num_days_from_monday() as usize] };
        intervals.iter().map(move |interval| (self.instant(date, interval.start), self.instant(date, interval.end)))
    }

    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.time_zone).date_naive()
    }

    /// Business time between two instants (zero when `to` is not after `from`).
    pub fn business_time(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        self.open_between(from, to).map(|(start, end)| end - start).sum()
    }

    /// The open stretches within `[from, to)`, clipped to it, in order (none when `to` is not
    /// after `from`).
    pub fn open_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        // A day before, for intervals of the previous local date that a change pushes past midnight.
        let first = self.local_date(from) - Duration::days(1);
        let days = if to > from { (self.local_date(to) - first).num_days() + 1 } else { 0 };
        (0..days)
            .flat_map(move |offset| self.open_on(first + Duration::days(offset)))
            .map(move |(start, end)| (start.max(from), end.min(to)))
            .filter(|(start, end)| end > start)
    }

    /// The earliest instant at which `amount` of business time has passed since `from`
    /// (`from` itself for zero); `None` when the calendar has no such time within three years.
    pub fn add_business_time(&self, from: DateTime<Utc>, amount: Duration) -> Option<DateTime<Utc>> {
        if amount <= Duration::zero() {
            return Some(from);
        }
        let mut remaining = amount;
        let first = self.local_date(from) - Duration::days(1);
        for offset in 0..HORIZON_DAYS {
            for (start, end) in self.open_on(first + Duration::days(offset)) {
                let start = start.max(from);
                if end <= start {
                    continue;
                }
                let open = end - start;
                if remaining <= open {
                    return Some(start + remaining);
                }
                remaining -= open;
            }
        }
        None
    }
}

fn minute_time(minute: u16) -> NaiveTime {
    NaiveTime::from_hms_opt(u32::from(minute / 60), u32::from(minute % 60), 0).unwrap_or(NaiveTime::MIN)
}

/// Whether the resolution clock runs in a status: it runs while OPEN or IN_PROGRESS.
pub fn resolution_runs(status: TicketStatus) -> bool {
    matches!(status, TicketStatus::Open | TicketStatus::InProgress)
}

/// A stretch of time the resolution clock ran: from `from` until `to` (still running: `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
}

/// The resolution clock's segments from a ticket's status history: it starts running at
/// `opened_at` and each `(at, to)` status change stops or resumes it.
pub fn segments_from_history(
    opened_at: DateTime<Utc>,
    changes: impl IntoIterator<Item = (DateTime<Utc>, TicketStatus)>,
) -> Vec<Segment> {
    let mut segments = vec![Segment { from: opened_at, to: None }];
    for (at, to) in changes {
        apply_status(&mut segments, at, to);
    }
    segments
}

/// Stops the clock at `at` when `to` stops it, resumes it when `to` runs it; otherwise nothing.
/// Returns whether the segments changed.
pub fn apply_status(segments: &mut Vec<Segment>, at: DateTime<Utc>, to: TicketStatus) -> bool {
    let running = segments.last().is_some_and(|last| last.to.is_none());
    match (running, resolution_runs(to)) {
        (true, false) => {
            if let Some(last) = segments.last_mut() {
                last.to = Some(at.max(last.from));
            }
            true
        }
        (false, true) => {
            segments.push(Segment { from: at, to: None });
            true
        }
        _ => false,
    }
}

/// The targets a ticket carries, copied from its policy when the policy was applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedPolicy {
    pub name: String,
    pub priority: super::Priority,
    pub category: Option<String>,
    pub first_response_minutes: i32,
    pub resolution_minutes: i32,
    pub at_risk_percent: i16,
    pub calendar_id: i64,
    pub calendar_name: String,
    pub calendar: Calendar,
}

impl AppliedPolicy {
    fn share(&self, minutes: i32, percent: i16) -> Duration {
        Duration::seconds(i64::from(minutes) * 60 * i64::from(percent) / 100)
    }
    pub fn first_response_target(&self) -> Duration {
        Duration::minutes(i64::from(self.first_response_minutes))
    }
    pub fn resolution_target(&self) -> Duration {
        Duration::minutes(i64::from(self.resolution_minutes))
    }
}

/// The instants the store keeps for a ticket's clocks, so that lists can filter and order by
/// them and the scheduler can find breaches without business-time arithmetic in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClockInstants {
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub first_response_risk_at: Option<DateTime<Utc>>,
    /// When the resolution clock reaches (or reached) its target; `None` while it is stopped
    /// short of it.
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub resolution_risk_at: Option<DateTime<Utc>>,
    /// The first instant the resolution clock ran past its due instant: the breach. `None`
    /// while it has not and cannot without resuming.
    pub resolution_breach_at: Option<DateTime<Utc>>,
}

/// Where the clock reaches `target` running over `segments` (the last one, if open, runs on
/// forever) and the first instant it runs past that: `(reached, passed)`.
fn reach(
    calendar: &Calendar,
    segments: &[Segment],
    target: Duration,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let mut used = Duration::zero();
    let mut reached: Option<DateTime<Utc>> = None;
    for segment in segments {
        if let Some(at) = reached {
            // Reached exactly where a segment ended: the next one runs past it at once.
            return (Some(at), Some(segment.from.max(at)));
        }
        let remaining = target - used;
        match segment.to {
            None => {
                let at = calendar.add_business_time(segment.from, remaining);
                return (at, at);
            }
            Some(to) => {
                let ran = calendar.business_time(segment.from, to);
                if ran >= remaining {
                    let at = calendar.add_business_time(segment.from, remaining);
                    match at {
                        Some(at) if at < to => return (Some(at), Some(at)),
                        Some(at) => reached = Some(at),
                        None => return (None, None),
                    }
                }
                used += ran;
            }
        }
    }
    (reached, None)
}

/// The kept instants of a ticket opened at `opened_at` whose resolution clock ran `segments`.
pub fn clock_instants(policy: &AppliedPolicy, opened_at: DateTime<Utc>, segments: &[Segment]) -> ClockInstants {
    let calendar = &policy.calendar;
    let first_response_due_at = calendar.add_business_time(opened_at, policy.first_response_target());
    let first_response_risk_at =
        calendar.add_business_time(opened_at, policy.share(policy.first_response_minutes, policy.at_risk_percent));
    let (resolution_due_at, resolution_breach_at) = reach(calendar, segments, policy.resolution_target());
    let running = segments.last().is_some_and(|last| last.to.is_none());
    let resolution_risk_at = if running {
        reach(calendar, segments, policy.share(policy.resolution_minutes, policy.at_risk_percent)).0
    } else {
        None
    };
    ClockInstants {
        first_response_due_at,
        first_response_risk_at,
        resolution_due_at,
        resolution_risk_at,
        resolution_breach_at,
    }
}

/// Business time the resolution clock has run by `now`.
pub fn resolution_time(calendar: &Calendar, segments: &[Segment], now: DateTime<Utc>) -> Duration {
    segments.iter().map(|segment| calendar.business_time(segment.from, segment.to.unwrap_or(now).min(now))).sum()
}

super::text_enum! {
    /// Where a ticket stands against its targets.
    SlaState {
        /// Running, below the at-risk share of its target.
        OnTrack => "ON_TRACK",
        /// Running, at or past the at-risk share of its target.
        AtRisk => "AT_RISK",
        /// The target passed while the clock ran.
        Breached => "BREACHED",
        /// Stopped within its target.
        Met => "MET",
    }
}

/// The state of the first-response clock: it runs from opening until the first response.
pub fn first_response_state(
    instants: &ClockInstants,
    first_response_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> SlaState {
    let stop = first_response_at.unwrap_or(now);
    match instants.first_response_due_at {
        Some(due) if due < stop => SlaState::Breached,
        _ if first_response_at.is_some() => SlaState::Met,
        _ if instants.first_response_risk_at.is_some_and(|risk| risk <= now) => SlaState::AtRisk,
        _ => SlaState::OnTrack,
    }
}

/// The state of the resolution clock: it runs while OPEN or IN_PROGRESS.
pub fn resolution_state(instants: &ClockInstants, status: TicketStatus, now: DateTime<Utc>) -> SlaState {
    match instants.resolution_breach_at {
        Some(breach) if breach < now => SlaState::Breached,
        _ if !resolution_runs(status) => SlaState::Met,
        _ if instants.resolution_risk_at.is_some_and(|risk| risk <= now) => SlaState::AtRisk,
        _ => SlaState::OnTrack,
    }
}

/// A ticket's state: BREACHED if either clock is, MET when both are, else AT_RISK if either is.
pub fn overall_state(first_response: SlaState, resolution: SlaState) -> SlaState {
    use SlaState::*;
    match (first_response, resolution) {
        (Breached, _) | (_, Breached) => Breached,
        (Met, Met) => Met,
        (AtRisk, _) | (_, AtRisk) => AtRisk,
        _ => OnTrack,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn hours(start: u16, end: u16) -> Vec<OpeningInterval> {
        vec![OpeningInterval { start: start * 60, end: end * 60 }]
    }

    /// Monday to Friday 09:00-17:00 in `zone`.
    fn office(zone: Tz) -> Calendar {
        Calendar {
            time_zone: zone,
            week: [hours(9, 17), hours(9, 17), hours(9, 17), hours(9, 17), hours(9, 17), vec![], vec![]],
            holidays: vec![],
        }
    }

    #[test]
    fn a_friday_evening_ticket_answered_on_monday_counts_only_monday_morning() {
        let calendar = office(chrono_tz::Europe::Paris);
        // Friday 2026-11-27 18:30 Paris (17:30 UTC) to Monday 2026-11-30 10:15 Paris (09:15 UTC):
        // nothing on Friday evening or the weekend, 09:00-10:15 on Monday = 75 minutes.
        let elapsed = calendar.business_time(at("2026-11-27T17:30:00Z"), at("2026-11-30T09:15:00Z"));
        assert_eq!(elapsed, Duration::minutes(75));
        // A 4 h target from Friday 18:30 is due Monday 13:00 Paris (12:00 UTC).
        assert_eq!(
            calendar.add_business_time(at("2026-11-27T17:30:00Z"), Duration::hours(4)),
            Some(at("2026-11-30T12:00:00Z"))
        );
    }

    #[test]
    fn a_target_that_ends_at_closing_time_is_due_at_closing_time() {
        let calendar = office(Tz::UTC);
        // Monday 09:00 + 8 h = Monday 17:00, not Tuesday 09:00.
        assert_eq!(
            calendar.add_business_time(at("2026-11-30T09:00:00Z"), Duration::hours(8)),
            Some(at("2026-11-30T17:00:00Z"))
        );
        assert_eq!(
            calendar.add_business_time(at("2026-11-30T09:00:00Z"), Duration::hours(9)),
            Some(at("2026-12-01T10:00:00Z"))
        );
    }

    #[test]
    fn holidays_are_closed_once_or_every_year() {
        let mut calendar = office(Tz::UTC);
        calendar.holidays = vec![
            Holiday { date: NaiveDate::from_ymd_opt(2020, 12, 25).unwrap(), yearly: true, name: None },
            Holiday { date: NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(), yearly: false, name: None },
        ];
        // Wednesday 2026-12-23 16:00 + 2 h: 1 h on Wednesday, Thursday 24th and Friday 25th
        // closed, the weekend closed, 1 h on Monday 28th: due 10:00.
        assert_eq!(
            calendar.add_business_time(at("2026-12-23T16:00:00Z"), Duration::hours(2)),
            Some(at("2026-12-28T10:00:00Z"))
        );
        // Wednesday 23rd to Tuesday 29th: only Wednesday and Monday are open, 8 h each.
        assert_eq!(
            calendar.business_time(at("2026-12-23T00:00:00Z"), at("2026-12-29T00:00:00Z")),
            Duration::hours(8 + 8)
        );
        // The one-off holiday is not repeated in 2027 (Friday 2027-12-24 is open).
        assert_eq!(calendar.business_time(at("2027-12-24T00:00:00Z"), at("2027-12-25T00:00:00Z")), Duration::hours(8));
    }

    #[test]
    fn new_york_across_the_march_change() {
        let zone = chrono_tz::America::New_York;
        // Open every day 00:00-24:00 local: Sunday 2026-03-08 has only 23 hours.
        let all_day = Calendar { time_zone: zone, week: std::array::from_fn(|_| hours(0, 24)), holidays: vec![] };
        assert_eq!(all_day.business_time(at("2026-03-08T05:00:00Z"), at("2026-03-09T04:00:00Z")), Duration::hours(23));
        // Office hours: Friday 2026-03-06 16:00 EST (21:00 UTC) + 2 h: 1 h on Friday, then
        // Monday 09:00 EDT (13:00 UTC, no longer 14:00) + 1 h = 14:00 UTC.
        let calendar = office(zone);
        assert_eq!(
            calendar.add_business_time(at("2026-03-06T21:00:00Z"), Duration::hours(2)),
            Some(at("2026-03-09T14:00:00Z"))
        );
        // A 01:00-04:00 interval on the change day holds 2 real hours (02:00-03:00 is skipped).
        let night = Calendar {
            time_zone: zone,
            week: [vec![], vec![], vec![], vec![], vec![], vec![], hours(1, 4)],
            holidays: vec![],
        };
        assert_eq!(night.business_time(at("2026-03-07T00:00:00Z"), at("2026-03-10T00:00:00Z")), Duration::hours(2));
        // 02:30 does not exist that day: an interval starting then starts at the change.
        let skipped = Calendar {
            time_zone: zone,
            week: [vec![], vec![], vec![], vec![], vec![], vec![], vec![OpeningInterval { start: 150, end: 240 }]],
            holidays: vec![],
        };
        assert_eq!(
            skipped.add_business_time(at("2026-03-08T00:00:00Z"), Duration::minutes(30)),
            Some(at("2026-03-08T07:30:00Z"))
        );
    }

    #[test]
    fn new_york_across_the_november_change() {
        let zone = chrono_tz::America::New_York;
        let all_day = Calendar { time_zone: zone, week: std::array::from_fn(|_| hours(0, 24)), holidays: vec![] };
        // Sunday 2026-11-01 has 25 hours.
        assert_eq!(all_day.business_time(at("2026-11-01T04:00:00Z"), at("2026-11-02T05:00:00Z")), Duration::hours(25));
        // Friday 2026-10-30 16:00 EDT (20:00 UTC) + 2 h office time: 1 h Friday, then Monday
        // 09:00 EST (14:00 UTC) + 1 h = 15:00 UTC.
        let calendar = office(zone);
        assert_eq!(
            calendar.add_business_time(at("2026-10-30T20:00:00Z"), Duration::hours(2)),
            Some(at("2026-11-02T15:00:00Z"))
        );
        // A 00:00-03:00 interval on the change day holds 4 real hours (01:00-02:00 twice).
        let night = Calendar {
            time_zone: zone,
            week: [vec![], vec![], vec![], vec![], vec![], vec![], hours(0, 3)],
            holidays: vec![],
        };
        assert_eq!(night.business_time(at("2026-10-31T00:00:00Z"), at("2026-11-03T00:00:00Z")), Duration::hours(4));
    }

    #[test]
    fn several_intervals_a_day_and_days_off() {
        let calendar = Calendar {
            time_zone: Tz::UTC,
            week: [
                vec![OpeningInterval { start: 8 * 60, end: 12 * 60 }, OpeningInterval { start: 13 * 60, end: 17 * 60 }],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
            ],
            holidays: vec![],
        };
        // Monday 2026-11-30 11:00 + 2 h: 1 h before lunch, 1 h after: 14:00.
        assert_eq!(
            calendar.add_business_time(at("2026-11-30T11:00:00Z"), Duration::hours(2)),
            Some(at("2026-11-30T14:00:00Z"))
        );
        // + 8 h from 11:00: 1 + 4 today, then next Monday 08:00 + 3 h = 11:00.
        assert_eq!(
            calendar.add_business_time(at("2026-11-30T11:00:00Z"), Duration::hours(8)),
            Some(at("2026-12-07T11:00:00Z"))
        );
    }

    #[test]
    fn invalid_calendars_are_refused() {
        let mut calendar = office(Tz::UTC);
        calendar.week[0] = vec![OpeningInterval { start: 600, end: 540 }];
        assert_eq!(calendar.validate().unwrap_err().field, "weeklyHours[0]");
        calendar.week[0] = vec![OpeningInterval { start: 540, end: 720 }, OpeningInterval { start: 700, end: 800 }];
        assert!(calendar.validate().is_err());
        calendar.week = std::array::from_fn(|_| vec![]);
        assert_eq!(calendar.validate().unwrap_err().field, "weeklyHours");
        assert!(Calendar::always_open().validate().is_ok());
    }

    fn policy(calendar: Calendar, first_response_minutes: i32, resolution_minutes: i32) -> AppliedPolicy {
        AppliedPolicy {
            name: "test".into(),
            priority: super::super::Priority::High,
            category: None,
            first_response_minutes,
            resolution_minutes,
            at_risk_percent: 80,
            calendar_id: 1,
            calendar_name: "office".into(),
            calendar,
        }
    }

    #[test]
    fn a_reopen_resumes_the_resolution_clock_where_it_stopped() {
        let policy = policy(office(Tz::UTC), 60, 8 * 60);
        // Opened Monday 09:00, resolved 12:00 (3 h), reopened Wednesday 15:00: 5 h left, so
        // 2 h on Wednesday and 3 h on Thursday: due Thursday 12:00.
        let segments = segments_from_history(
            at("2026-11-30T09:00:00Z"),
            [
                (at("2026-11-30T12:00:00Z"), TicketStatus::Resolved),
                (at("2026-12-02T15:00:00Z"), TicketStatus::InProgress),
            ],
        );
        assert_eq!(segments.len(), 2);
        let instants = clock_instants(&policy, at("2026-11-30T09:00:00Z"), &segments);
        assert_eq!(instants.resolution_due_at, Some(at("2026-12-03T12:00:00Z")));
        assert_eq!(instants.resolution_breach_at, Some(at("2026-12-03T12:00:00Z")));
        // 80 % of 8 h = 6 h 24 min: 3 h + 2 h + 1 h 24 min on Thursday = 10:24.
        assert_eq!(instants.resolution_risk_at, Some(at("2026-12-03T10:24:00Z")));
        assert_eq!(
            resolution_time(&policy.calendar, &segments, at("2026-12-02T16:30:00Z")),
            Duration::minutes(3 * 60 + 90)
        );
        // While resolved, nothing is due and the clock is MET.
        let stopped = &segments[..1];
        let paused = clock_instants(&policy, at("2026-11-30T09:00:00Z"), stopped);
        assert_eq!(paused.resolution_due_at, None);
        assert_eq!(resolution_state(&paused, TicketStatus::Resolved, at("2026-12-01T00:00:00Z")), SlaState::Met);
    }

    #[test]
    fn a_clock_stopped_after_its_due_instant_is_breached_even_outside_hours() {
        let policy = policy(office(Tz::UTC), 60, 60);
        let opened = at("2026-11-30T16:00:00Z");
        // Resolved at 17:30: due 17:00, and the clock ran past it, although no business time
        // passed after 17:00.
        let segments = segments_from_history(opened, [(at("2026-11-30T17:30:00Z"), TicketStatus::Resolved)]);
        let instants = clock_instants(&policy, opened, &segments);
        assert_eq!(instants.resolution_due_at, Some(at("2026-11-30T17:00:00Z")));
        assert_eq!(instants.resolution_breach_at, Some(at("2026-11-30T17:00:00Z")));
        // Resolved at exactly the due instant and reopened the next morning: breached at the
        // reopen, the first instant the clock runs past its due instant.
        let resumed = segments_from_history(
            opened,
            [
                (at("2026-11-30T17:00:00Z"), TicketStatus::Resolved),
                (at("2026-12-01T08:00:00Z"), TicketStatus::InProgress),
            ],
        );
        let instants = clock_instants(&policy, opened, &resumed);
        assert_eq!(instants.resolution_due_at, Some(at("2026-11-30T17:00:00Z")));
        assert_eq!(instants.resolution_breach_at, Some(at("2026-12-01T08:00:00Z")));
        // Stopped at exactly the due instant: met.
        let on_time = segments_from_history(opened, [(at("2026-11-30T17:00:00Z"), TicketStatus::Resolved)]);
        let instants = clock_instants(&policy, opened, &on_time);
        assert_eq!(resolution_state(&instants, TicketStatus::Resolved, at("2026-12-05T00:00:00Z")), SlaState::Met);
        // Stopped mid-interval after the due instant: breached at the due instant.
        let late = segments_from_history(opened, [(at("2026-12-01T09:30:00Z"), TicketStatus::Resolved)]);
        let instants = clock_instants(&policy, opened, &late);
        assert_eq!(instants.resolution_breach_at, Some(at("2026-11-30T17:00:00Z")));
        assert_eq!(resolution_state(&instants, TicketStatus::Resolved, at("2026-12-05T00:00:00Z")), SlaState::Breached);
    }

    #[test]
    fn first_response_states() {
        let policy = policy(Calendar::always_open(), 60, 600);
        let opened = at("2026-11-30T09:00:00Z");
        let instants = clock_instants(&policy, opened, &segments_from_history(opened, []));
        assert_eq!(instants.first_response_due_at, Some(at("2026-11-30T10:00:00Z")));
        assert_eq!(instants.first_response_risk_at, Some(at("2026-11-30T09:48:00Z")));
        assert_eq!(first_response_state(&instants, None, at("2026-11-30T09:47:59Z")), SlaState::OnTrack);
        assert_eq!(first_response_state(&instants, None, at("2026-11-30T09:48:00Z")), SlaState::AtRisk);
        assert_eq!(first_response_state(&instants, None, at("2026-11-30T10:00:01Z")), SlaState::Breached);
        let answered = Some(at("2026-11-30T10:00:00Z"));
        assert_eq!(first_response_state(&instants, answered, at("2026-12-30T00:00:00Z")), SlaState::Met);
        assert_eq!(overall_state(SlaState::Met, SlaState::AtRisk), SlaState::AtRisk);
        assert_eq!(overall_state(SlaState::Met, SlaState::Met), SlaState::Met);
        assert_eq!(overall_state(SlaState::Breached, SlaState::Met), SlaState::Breached);
        assert_eq!(overall_state(SlaState::Met, SlaState::OnTrack), SlaState::OnTrack);
    }
}
