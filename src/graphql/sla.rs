//! SLA policies on business-hours calendars (docs/sla.md): ADMIN manages calendars and
//! policies; every ticket shows the targets it carries and where its clocks stand.

use std::collections::HashMap;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};

use super::loaders::Loaders;
use super::tickets::{SortDirection, TicketOrderField, TicketOrderInput};
use super::{db, parse_id};
use crate::auth::{Role, RoleGuard};
use crate::domain::Priority;
use crate::domain::limits::{self, CATEGORY_MAX, NAME_MAX};
use crate::domain::sla::{self, Calendar, DAY_MINUTES, Holiday, OpeningInterval, SlaState};
use crate::error::AppError;
use crate::models::{BusinessCalendar, SlaPolicy, SlaPolicyFields, Ticket};
use crate::store;
use crate::store::sla::{CalendarFields, TicketSla};
use crate::store::tickets::TicketFilter;

/// At most this many holidays per calendar: a decade of public holidays fits.
const HOLIDAYS_MAX: usize = 500;
/// At most this many opening intervals per day.
const INTERVALS_MAX: usize = 12;
/// The longest target: a year.
const TARGET_MAX_MINUTES: i32 = 525_600;

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
    Weekday::Sunday,
];

fn hh_mm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

fn parse_hh_mm(field: &str, text: &str) -> Result<u16, AppError> {
    let bad =
        || AppError::bad_input(field, format!("{} is not a time HH:MM from 00:00 to 24:00", limits::quoted(text)));
    let (hours, minutes) = text.split_once(':').ok_or_else(bad)?;
    if hours.len() != 2 || minutes.len() != 2 {
        return Err(bad());
    }
    let hours: u16 = hours.parse().map_err(|_| bad())?;
    let minutes: u16 = minutes.parse().map_err(|_| bad())?;
    let minute = hours * 60 + minutes;
    if minutes >= 60 || minute > DAY_MINUTES {
        return Err(bad());
    }
    Ok(minute)
}

/// An opening interval, local wall-clock time `[start, end)`; `end` may be "24:00".
#[derive(InputObject, SimpleObject, Clone)]
#[graphql(input_name = "OpeningIntervalInput")]
pub struct OpeningHours {
    /// "HH:MM", e.g. "09:00".
    pub start: String,
    /// "HH:MM", after `start`, at most "24:00".
    pub end: String,
}

/// The opening hours of one weekday; a weekday not listed is a day off.
#[derive(InputObject, SimpleObject, Clone)]
#[graphql(input_name = "WeekdayHoursInput")]
pub struct WeekdayHours {
    pub day: Weekday,
    pub intervals: Vec<OpeningHours>,
}

/// A day off: one date, or (yearly) the same month and day every year.
#[derive(InputObject, SimpleObject, Clone)]
#[graphql(input_name = "HolidayInput", name = "Holiday")]
pub struct HolidayDay {
    pub date: NaiveDate,
    #[graphql(default)]
    pub yearly: bool,
    pub name: Option<String>,
}

#[derive(InputObject)]
pub struct BusinessCalendarInput {
    pub name: String,
    /// An IANA time zone, e.g. America/New_York.
    pub time_zone: String,
    /// Opening hours per weekday (several intervals a day allowed); omitted weekdays are closed.
    pub weekly_hours: Vec<WeekdayHours>,
    #[graphql(default)]
    pub holidays: Vec<HolidayDay>,
}

impl BusinessCalendarInput {
    fn into_fields(self) -> Result<CalendarFields, AppError> {
        let name = limits::required_text("input.name", &self.name, NAME_MAX)?;
        let time_zone = self.time_zone.parse().map_err(|_| {
            AppError::bad_input(
                "input.timeZone",
                format!("{} is not an IANA time zone (example: Europe/Paris)", limits::quoted(&self.time_zone)),
            )
        })?;
        let mut week: [Vec<OpeningInterval>; 7] = Default::default();
        let mut seen = [false; 7];
        for (index, day) in self.weekly_hours.into_iter().enumerate() {
            let slot = WEEKDAYS.iter().position(|weekday| *weekday == day.day).unwrap_or(0);
            let field = format!("input.weeklyHours[{index}]");
            if std::mem::replace(&mut seen[slot], true) {
                return Err(AppError::bad_input(&field, "each weekday is listed at most once"));
            }
            if day.intervals.len() > INTERVALS_MAX {
                return Err(AppError::bad_input(&field, format!("at most {INTERVALS_MAX} intervals a day")));
            }
            for (n, interval) in day.intervals.iter().enumerate() {
                let start = parse_hh_mm(&format!("{field}.intervals[{n}].start"), &interval.start)?;
                let end = parse_hh_mm(&format!("{field}.intervals[{n}].end"), &interval.end)?;
                week[slot].push(OpeningInterval { start, end });
            }
        }
        if self.holidays.len() > HOLIDAYS_MAX {
            return Err(AppError::bad_input("input.holidays", format!("at most {HOLIDAYS_MAX} holidays")));
        }
        let mut holidays = Vec::with_capacity(self.holidays.len());
        for (index, holiday) in self.holidays.into_iter().enumerate() {
            let name =
                limits::optional_text(&format!("input.holidays[{index}].name"), holiday.name.as_deref(), NAME_MAX)?;
            holidays.push(Holiday { date: holiday.date, yearly: holiday.yearly, name });
        }
        let calendar = Calendar { time_zone, week, holidays };
        calendar.validate().map_err(|invalid| {
            let field = match invalid.field.strip_prefix("weeklyHours[").and_then(|rest| rest.strip_suffix(']')) {
                Some(day) => format!("input.weeklyHours ({:?})", WEEKDAYS[day.parse::<usize>().unwrap_or(0)]),
                None => format!("input.{}", invalid.field),
            };
            AppError::bad_input(&field, invalid.message)
        })?;
        Ok(CalendarFields { name, calendar })
    }
}

/// When business time passes for the SLA policies that count in it.
pub struct BusinessCalendarNode(BusinessCalendar);

#[Object(name = "BusinessCalendar")]
impl BusinessCalendarNode {
    async fn id(&self) -> ID {
        ID::from(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }
    /// Policies without a calendar count in the default one (24/7 in UTC as installed).
    async fn is_default(&self) -> bool {
        self.0.is_default
    }
    /// The open weekdays, Monday first.
    async fn weekly_hours(&self) -> Result<Vec<WeekdayHours>, AppError> {
        let calendar = store::sla::calendar_of(&self.0)?;
        Ok(week_view(&calendar))
    }
    async fn holidays(&self) -> Result<Vec<HolidayDay>, AppError> {
        let calendar = store::sla::calendar_of(&self.0)?;
        Ok(holidays_view(&calendar))
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

fn week_view(calendar: &Calendar) -> Vec<WeekdayHours> {
    WEEKDAYS
        .iter()
        .zip(&calendar.week)
        .filter(|(_, intervals)| !intervals.is_empty())
        .map(|(day, intervals)| WeekdayHours {
            day: *day,
            intervals: intervals
                .iter()
                .map(|interval| OpeningHours { start: hh_mm(interval.start), end: hh_mm(interval.end) })
                .collect(),
        })
        .collect()
}

fn holidays_view(calendar: &Calendar) -> Vec<HolidayDay> {
    calendar
        .holidays
        .iter()
        .map(|holiday| HolidayDay { date: holiday.date, yearly: holiday.yearly, name: holiday.name.clone() })
        .collect()
}

/// Response and resolution targets for one priority (and optionally one category).
#[derive(InputObject)]
pub struct SlaPolicyInput {
    pub name: String,
    pub priority: Priority,
    /// Only tickets of this exact category; without it, the priority's other tickets.
    pub category: Option<String>,
    /// Business minutes from opening to the first response.
    pub first_response_minutes: i32,
    /// Business minutes the resolution clock may run (while OPEN or IN_PROGRESS).
    pub resolution_minutes: i32,
    /// A running clock is AT_RISK from this share of its target on, 1 to 99.
    #[graphql(default = 80)]
    pub at_risk_percent: i32,
    /// The calendar the targets count in; default: the default calendar.
    pub calendar_id: Option<ID>,
}

impl SlaPolicyInput {
    fn into_fields(self, default_calendar: i64) -> Result<SlaPolicyFields, AppError> {
        let target = |field: &str, minutes: i32| {
            if (1..=TARGET_MAX_MINUTES).contains(&minutes) {
                Ok(minutes)
            } else {
                Err(AppError::bad_input(field, format!("must be 1 to {TARGET_MAX_MINUTES} minutes")))
            }
        };
        if !(1..=99).contains(&self.at_risk_percent) {
            return Err(AppError::bad_input("input.atRiskPercent", "must be 1 to 99"));
        }
        Ok(SlaPolicyFields {
            name: limits::required_text("input.name", &self.name, NAME_MAX)?,
            priority: self.priority,
            category: limits::optional_text("input.category", self.category.as_deref(), CATEGORY_MAX)?,
            first_response_minutes: target("input.firstResponseMinutes", self.first_response_minutes)?,
            resolution_minutes: target("input.resolutionMinutes", self.resolution_minutes)?,
            at_risk_percent: self.at_risk_percent as i16,
            calendar_id: match self.calendar_id {
                Some(id) => parse_id("input.calendarId", &id)?,
                None => default_calendar,
            },
        })
    }
}

pub struct SlaPolicyNode(SlaPolicy);

#[Object(name = "SlaPolicy")]
impl SlaPolicyNode {
    async fn id(&self) -> ID {
        ID::from(self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn priority(&self) -> Priority {
        self.0.priority
    }
    async fn category(&self) -> Option<&str> {
        self.0.category.as_deref()
    }
    async fn first_response_minutes(&self) -> i32 {
        self.0.first_response_minutes
    }
    async fn resolution_minutes(&self) -> i32 {
        self.0.resolution_minutes
    }
    async fn at_risk_percent(&self) -> i32 {
        i32::from(self.0.at_risk_percent)
    }
    async fn calendar(&self, ctx: &Context<'_>) -> Result<Option<BusinessCalendarNode>, AppError> {
        let id = self.0.calendar_id;
        let found = db(ctx)?.run(move |conn| store::sla::calendars_by_ids(conn, &[id])).await?;
        Ok(found.into_values().next().map(BusinessCalendarNode))
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// The policy as it was when applied to the ticket: later edits of the policy or its calendar
/// do not change it.
#[derive(SimpleObject)]
pub struct AppliedSlaPolicy {
    /// The policy's id; null once the policy is deleted.
    pub id: Option<ID>,
    pub name: String,
    pub priority: Priority,
    pub category: Option<String>,
    pub first_response_minutes: i32,
    pub resolution_minutes: i32,
    pub at_risk_percent: i32,
    pub calendar_id: ID,
    pub calendar_name: String,
    pub time_zone: String,
    pub weekly_hours: Vec<WeekdayHours>,
    pub holidays: Vec<HolidayDay>,
}

/// A ticket's targets and clocks, read at one instant (`asOf`).
pub struct TicketSlaNode {
    sla: TicketSla,
    first_response_at: Option<DateTime<Utc>>,
    status: crate::domain::TicketStatus,
    opened_at: DateTime<Utc>,
    now: DateTime<Utc>,
}

#[Object(name = "TicketSla")]
impl TicketSlaNode {
    async fn policy(&self) -> AppliedSlaPolicy {
        let policy = &self.sla.policy;
        AppliedSlaPolicy {
            id: self.sla.policy_id.map(ID::from),
            name: policy.name.clone(),
            priority: policy.priority,
            category: policy.category.clone(),
            first_response_minutes: policy.first_response_minutes,
            resolution_minutes: policy.resolution_minutes,
            at_risk_percent: i32::from(policy.at_risk_percent),
            calendar_id: ID::from(policy.calendar_id),
            calendar_name: policy.calendar_name.clone(),
            time_zone: policy.calendar.time_zone.name().to_owned(),
            weekly_hours: week_view(&policy.calendar),
            holidays: holidays_view(&policy.calendar),
        }
    }
    /// When the policy was applied: the opening, or the priority change that applied it.
    async fn applied_at(&self) -> DateTime<Utc> {
        self.sla.applied_at
    }
    /// The instant the clocks were read at.
    async fn as_of(&self) -> DateTime<Utc> {
        self.now
    }
    /// When the first response is due: the target in business time after opening.
    async fn first_response_due_at(&self) -> Option<DateTime<Utc>> {
        self.sla.instants.first_response_due_at
    }
    /// When the resolution clock reaches (or reached) its target; null while it is stopped
    /// short of it (RESOLVED or CLOSED in time).
    async fn resolution_due_at(&self) -> Option<DateTime<Utc>> {
        self.sla.instants.resolution_due_at
    }
    /// Business seconds from opening to the first response (or to `asOf` while unanswered).
    async fn first_response_business_seconds(&self) -> i64 {
        let until = self.first_response_at.unwrap_or(self.now);
        self.sla.policy.calendar.business_time(self.opened_at, until).num_seconds()
    }
    /// Business seconds the resolution clock has run by `asOf`.
    async fn resolution_business_seconds(&self) -> i64 {
        sla::resolution_time(&self.sla.policy.calendar, &self.sla.segments, self.now).num_seconds()
    }
    async fn first_response_state(&self) -> SlaState {
        sla::first_response_state(&self.sla.instants, self.first_response_at, self.now)
    }
    async fn resolution_state(&self) -> SlaState {
        sla::resolution_state(&self.sla.instants, self.status, self.now)
    }
    /// BREACHED if either clock is, MET when both are, else AT_RISK if either is, else ON_TRACK.
    async fn state(&self) -> SlaState {
        sla::overall_state(
            sla::first_response_state(&self.sla.instants, self.first_response_at, self.now),
            sla::resolution_state(&self.sla.instants, self.status, self.now),
        )
    }
}

pub async fn ticket_sla(ctx: &Context<'_>, ticket: &Ticket) -> Result<Option<TicketSlaNode>, AppError> {
    let found = ctx.data_unchecked::<Loaders>().slas.load_one(ticket.id).await?;
    Ok(found.map(|sla| TicketSlaNode {
        sla,
        first_response_at: ticket.first_response_at,
        status: ticket.status,
        opened_at: ticket.opened_at,
        now: Utc::now(),
    }))
}

/// The SLA_DUE sort key of each ticket of a page.
pub async fn next_dues(ctx: &Context<'_>, rows: &[Ticket]) -> Result<HashMap<i64, DateTime<Utc>>, AppError> {
    let slas = ctx.data_unchecked::<Loaders>().slas.load_many(rows.iter().map(|row| row.id)).await?;
    Ok(rows.iter().filter_map(|row| Some((row.id, slas.get(&row.id)?.next_due(row)?))).collect())
}

/// A list filtered by SLA state is ordered by what is due next, unless it names an order.
pub fn default_order(filter: &TicketFilter) -> Option<TicketOrderInput> {
    (!filter.sla_states.is_empty())
        .then_some(TicketOrderInput { field: TicketOrderField::SlaDue, direction: SortDirection::Asc })
}

#[derive(Default)]
pub struct SlaQuery;

#[Object]
impl SlaQuery {
    /// Every business-hours calendar, the default one first.
    async fn business_calendars(&self, ctx: &Context<'_>) -> Result<Vec<BusinessCalendarNode>, AppError> {
        let rows = db(ctx)?.run(store::sla::calendars).await?;
        Ok(rows.into_iter().map(BusinessCalendarNode).collect())
    }

    /// Every SLA policy, by priority then category.
    async fn sla_policies(&self, ctx: &Context<'_>) -> Result<Vec<SlaPolicyNode>, AppError> {
        let rows = db(ctx)?.run(store::sla::policies).await?;
        Ok(rows.into_iter().map(SlaPolicyNode).collect())
    }
}

#[derive(Default)]
pub struct SlaMutation;

#[Object]
impl SlaMutation {
    #[graphql(guard = "RoleGuard::new(Role::Admin)")]
    async fn create_business_calendar(
        &self,
        ctx: &Context<'_>,
        input: BusinessCalendarInput,
    ) -> Result<BusinessCalendarNode, AppError> {
        let fields = input.into_fields()?;
        let row = db(ctx)?.run(move |conn| store::sla::create_calendar(conn, &fields)).await?;
        Ok(BusinessCalendarNode(row))
    }

    /// Replaces a calendar's definition. Tickets keep the copy they were given; policies count
    /// in the new definition for the tickets they are applied to from now on.
    #[graphql(guard = "RoleGuard::new(Role::Admin)")]
    async fn update_business_calendar(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        input: BusinessCalendarInput,
    ) -> Result<BusinessCalendarNode, AppError> {
        let id = parse_id("id", &id)?;
        let fields = input.into_fields()?;
        let row = db(ctx)?.run(move |conn| store::sla::update_calendar(conn, id, version, &fields)).await?;
        Ok(BusinessCalendarNode(row))
    }

    /// Deletes a calendar that no policy counts in (CONFLICT otherwise, and for the default).
    #[graphql(guard = "RoleGuard::new(Role::Admin)")]
    async fn delete_business_calendar(&self, ctx: &Context<'_>, id: ID) -> Result<bool, AppError> {
        let id = parse_id("id", &id)?;
        db(ctx)?.run(move |conn| store::sla::delete_calendar(conn, id)).await?;
        Ok(true)
    }

    /// A policy for a priority (and optionally a category). Tickets get it when opened or when
    /// their priority changes; CONFLICT if another policy covers the same scope.
    #[graphql(guard = "RoleGuard::new(Role::Admin)")]
    async fn create_sla_policy(&self, ctx: &Context<'_>, input: SlaPolicyInput) -> Result<SlaPolicyNode, AppError> {
        let db = db(ctx)?;
        let row = db
            .run(move |conn| {
                let fields = input.into_fields(store::sla::default_calendar(conn)?.id)?;
                store::sla::create_policy(conn, &fields)
            })
            .await?;
        Ok(SlaPolicyNode(row))
    }

    /// Edits a policy. Tickets that already carry it keep their copy.
    #[graphql(guard = "RoleGuard::new(Role::Admin)")]
    async fn update_sla_policy(
        &self,
        ctx: &Context<'_>,
        id: ID,
        version: i32,
        input: SlaPolicyInput,
    ) -> Result<SlaPolicyNode, AppError> {
        let id = parse_id("id", &id)?;
        let row = db(ctx)?
            .run(move |conn| {
                let fields = input.into_fields(store::sla::default_calendar(conn)?.id)?;
                store::sla::update_policy(conn, id, version, &fields)
            })
            .await?;
        Ok(SlaPolicyNode(row))
    }

    /// Deletes a policy; tickets that carry it keep their copy.
    #[graphql(guard = "RoleGuard::new(Role::Admin)")]
    async fn delete_sla_policy(&self, ctx: &Context<'_>, id: ID) -> Result<bool, AppError> {
        let id = parse_id("id", &id)?;
        db(ctx)?.run(move |conn| store::sla::delete_policy(conn, id)).await?;
        Ok(true)
    }
}
