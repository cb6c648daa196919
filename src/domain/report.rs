//! Periodic reports: which instants a week or a month covers in a time zone, and what a stored
//! report holds.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::kpi::{CategoryTrend, MetricChange};
use super::limits::{EARLIEST_DATE, LATEST_DATE};
use crate::store::kpis::KpiValues;

text_enum! {
    /// The calendar unit a report covers.
    ReportKind {
        /// An ISO week, Monday 00:00 to the next Monday 00:00, local time.
        Week => "WEEK",
        /// A calendar month, the 1st 00:00 to the next 1st 00:00, local time.
        Month => "MONTH",
    }
}

text_enum! {
    /// Why a report was generated.
    ReportTrigger {
        /// Asked for by someone, over GraphQL or the CLI.
        OnDemand => "ON_DEMAND",
        /// Made by the scheduler in `serve`: at most one per period.
        Scheduled => "SCHEDULED",
    }
}

/// The instants of one report period and of the calendar unit before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportPeriod {
    pub kind: ReportKind,
    pub time_zone: Tz,
    /// The local date the period starts on.
    pub start_date: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub previous_start: DateTime<Utc>,
}

impl ReportPeriod {
    /// The period starting on `start_date` (a Monday for a week, the 1st for a month).
    pub fn starting(kind: ReportKind, start_date: NaiveDate, time_zone: Tz) -> Result<ReportPeriod, String> {
        match kind {
            ReportKind::Week if start_date.weekday() != Weekday::Mon => {
                return Err(format!("a weekly report starts on a Monday; {start_date} is a {}", start_date.weekday()));
            }
            ReportKind::Month if start_date.day() != 1 => {
                return Err(format!("a monthly report starts on the 1st; {start_date} is not"));
            }
            _ => {}
        }
        let shifted = |forward: bool| -> Result<NaiveDate, String> {
            let date = match (kind, forward) {
                (ReportKind::Week, true) => start_date.checked_add_days(Days::new(7)),
                (ReportKind::Week, false) => start_date.checked_sub_days(Days::new(7)),
                (ReportKind::Month, true) => start_date.checked_add_months(Months::new(1)),
                (ReportKind::Month, false) => start_date.checked_sub_months(Months::new(1)),
            };
            date.ok_or_else(|| format!("{start_date} is out of range"))
        };
        let end_date = shifted(true)?;
        if start_date < EARLIEST_DATE || end_date > LATEST_DATE {
            return Err(format!(
                "a report covers days from {EARLIEST_DATE} to before {LATEST_DATE}; {start_date} is outside"
            ));
        }
        Ok(ReportPeriod {
            kind,
            time_zone,
            start_date,
            start: local_midnight(time_zone, start_date),
            end: local_midnight(time_zone, end_date),
            previous_start: local_midnight(time_zone, shifted(false)?),
        })
    }

    /// The latest period of `kind` that has ended at `now`: last week on any day of this week,
    /// last month on any day of this month.
    pub fn last_completed(kind: ReportKind, now: DateTime<Utc>, time_zone: Tz) -> ReportPeriod {
        let today = now.with_timezone(&time_zone).date_naive();
        let start_date = match kind {
            ReportKind::Week => today.week(Weekday::Mon).first_day() - Days::new(7),
            ReportKind::Month => today.with_day(1).expect("every month has a 1st") - Months::new(1),
        };
        ReportPeriod::starting(kind, start_date, time_zone).expect("a Monday or a 1st by construction")
    }
}

/// 00:00 of `date` in `time_zone`; where a daylight-saving change skips midnight, the first
/// instant of the day.
pub fn local_midnight(time_zone: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("00:00 exists");
    (0..=3)
        .find_map(|hour| time_zone.from_local_datetime(&(midnight + chrono::Duration::hours(hour))).earliest())
        .map(|local| local.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

/// The format of [`ReportSnapshot`]; raised when a field changes meaning.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// Everything a report shows, as computed when it was generated. Stored as JSON and never
/// changed: the tickets under it may change or be purged later.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReportSnapshot {
    pub format: u32,
    pub previous_start: DateTime<Utc>,
    pub previous_end: DateTime<Utc>,
    pub current: KpiValues,
    pub previous: KpiValues,
    pub changes: Vec<MetricChange>,
    /// One row per technician (every active one, and anyone with tickets in the period), then
    /// the unassigned tickets.
    pub technicians: Vec<TechnicianRow>,
    pub top_categories: Vec<CategoryTrend>,
    pub top_customers: Vec<CustomerRow>,
}

/// A technician's KPIs in a report, with their name and team as they were then.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TechnicianRow {
    /// None for the unassigned tickets.
    pub technician_id: Option<i64>,
    pub name: Option<String>,
    pub team: Option<String>,
    pub values: KpiValues,
}

/// A customer among those with the most tickets opened in the period.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CustomerRow {
    pub customer_id: i64,
    pub name: String,
    pub organization: Option<String>,
    pub tickets: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_week_runs_monday_to_monday_in_local_time() {
        let period = ReportPeriod::starting(
            ReportKind::Week,
            NaiveDate::from_ymd_opt(2026, 11, 16).unwrap(),
            chrono_tz::Europe::Paris,
        )
        .unwrap();
        assert_eq!(period.start, utc("2026-11-15T23:00:00Z"));
        assert_eq!(period.end, utc("2026-11-22T23:00:00Z"));
        assert_eq!(period.previous_start, utc("2026-11-08T23:00:00Z"));
    }

    #[test]
    fn a_week_across_the_dst_change_is_an_hour_longer() {
        // New York leaves daylight-saving time on Sunday 2026-11-01.
        let period = ReportPeriod::starting(
            ReportKind::Week,
            NaiveDate::from_ymd_opt(2026, 10, 26).unwrap(),
            chrono_tz::America::New_York,
        )
        .unwrap();
        assert_eq!(period.start, utc("2026-10-26T04:00:00Z"));
        assert_eq!(period.end, utc("2026-11-02T05:00:00Z"));
    }

    #[test]
    fn months_and_their_previous_month() {
        let period =
            ReportPeriod::starting(ReportKind::Month, NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(), chrono_tz::UTC)
                .unwrap();
        assert_eq!(period.start, utc("2026-03-01T00:00:00Z"));
        assert_eq!(period.end, utc("2026-04-01T00:00:00Z"));
        assert_eq!(period.previous_start, utc("2026-02-01T00:00:00Z"));
    }

    #[test]
    fn starts_off_the_calendar_unit_are_refused() {
        let tuesday = NaiveDate::from_ymd_opt(2026, 11, 17).unwrap();
        assert!(ReportPeriod::starting(ReportKind::Week, tuesday, chrono_tz::UTC).is_err());
        assert!(ReportPeriod::starting(ReportKind::Month, tuesday, chrono_tz::UTC).is_err());
    }

    #[test]
    fn the_last_completed_period_is_the_one_before_today() {
        // Friday 2026-11-27 in Tokyo is already Saturday 2026-11-28.
        let now = utc("2026-11-27T20:00:00Z");
        let week = ReportPeriod::last_completed(ReportKind::Week, now, chrono_tz::Asia::Tokyo);
        assert_eq!(week.start_date, NaiveDate::from_ymd_opt(2026, 11, 16).unwrap());
        let month = ReportPeriod::last_completed(ReportKind::Month, utc("2026-12-01T00:30:00Z"), chrono_tz::UTC);
        assert_eq!(month.start_date, NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
    }

    /// A snapshot as format 1 stores it: reports generated today must stay readable.
    const FORMAT_1_SAMPLE: &str = r#"{
        "format": 1,
        "previousStart": "2026-11-09T00:00:00Z", "previousEnd": "2026-11-16T00:00:00Z",
        "current": {
            "ticketsOpened": 3, "ticketsResolved": 3, "ticketsClosed": 1, "backlog": 1,
            "firstResponse": {"mean": 2700.0, "median": 2700.0, "p90": 3420.0},
            "awaitingFirstResponse": 1,
            "resolution": {"mean": 86400.0, "median": 86400.0, "p90": 100800.0},
            "firstResolution": {"mean": null, "median": null, "p90": null},
            "openedNowResolved": 2, "resolvedReopened": 0,
            "csatAverage": 3.5, "csatCount": 2, "csatSatisfied": 1,
            "interactions": [{"channel": "CALL", "direction": "INBOUND", "count": 2, "durationSeconds": 300}]
        },
        "previous": {
            "ticketsOpened": 0, "ticketsResolved": 0, "ticketsClosed": 0, "backlog": 0,
            "firstResponse": {"mean": null, "median": null, "p90": null}, "awaitingFirstResponse": 0,
            "resolution": {"mean": null, "median": null, "p90": null},
            "firstResolution": {"mean": null, "median": null, "p90": null},
            "openedNowResolved": 0, "resolvedReopened": 0, "csatAverage": null, "csatCount": 0,
            "csatSatisfied": 0, "interactions": []
        },
        "changes": [{"metric": "TICKETS_OPENED", "current": 3.0, "previous": 0.0, "absolute": 3.0, "relative": null}],
        "technicians": [
            {"technicianId": 7, "name": "Ann", "team": "A", "values": {"ticketsOpened": 1}},
            {"technicianId": null, "name": null, "team": null, "values": {"ticketsOpened": 2}}
        ],
        "topCategories": [{"category": "net", "tickets": 2, "previousTickets": 1, "change": 1, "relativeChange": 1.0}],
        "topCustomers": [{"customerId": 3, "name": "Acme", "organization": null, "tickets": 2}]
    }"#;

    #[test]
    fn format_1_snapshots_stay_readable() {
        let snapshot: ReportSnapshot = serde_json::from_str(FORMAT_1_SAMPLE).unwrap();
        assert_eq!(snapshot.format, 1);
        assert_eq!(snapshot.current.first_response.p90, Some(3420.0));
        assert_eq!(snapshot.current.interactions[0].channel, crate::domain::InteractionChannel::Call);
        // Fields a row leaves out read as empty.
        assert_eq!(snapshot.technicians[0].values.tickets_opened, 1);
        assert_eq!(snapshot.technicians[0].values.csat_average, None);
        assert_eq!(snapshot.top_customers[0].name, "Acme");
    }

    #[test]
    fn midnight_skipped_by_a_dst_change_is_the_first_instant_of_the_day() {
        // Santiago springs forward at 00:00 on 2026-09-06: the day starts at 01:00 local.
        let start = local_midnight(chrono_tz::America::Santiago, NaiveDate::from_ymd_opt(2026, 9, 6).unwrap());
        assert_eq!(start, utc("2026-09-06T04:00:00Z"));
    }
}
