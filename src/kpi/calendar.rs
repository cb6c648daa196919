//! The buckets of a series: local calendar units of an IANA time zone as instant ranges.
//!
//! A bucket is the half-open instant range from the first instant of its local calendar unit to
//! the first instant of the next, clipped to the period. The first instant of a unit is the
//! earliest instant whose local date is the unit's first day: local midnight, or its earlier
//! occurrence where midnight repeats (America/Havana's autumn change), or the end of the gap
//! where midnight is skipped. So every instant of the period lies in exactly one bucket, and the
//! buckets add up to the period.

use chrono::{DateTime, Datelike, Duration, LocalResult, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::Bucket;

/// One bucket: `[starts, ends)`, both clipped to the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub starts: DateTime<Utc>,
    pub ends: DateTime<Utc>,
}

/// The buckets of `[from, to)`: one span for a summary (`bucket` None), else one per local unit.
pub fn buckets(from: DateTime<Utc>, to: DateTime<Utc>, zone: Tz, bucket: Option<Bucket>) -> Vec<Span> {
    let Some(unit) = bucket else { return vec![Span { starts: from, ends: to }] };
    let mut first_day = unit_start(unit, from.with_timezone(&zone).date_naive());
    // Local dates are not monotonic in instants everywhere: settle on the unit whose range
    // holds `from`.
    while first_instant(zone, first_day) > from {
        first_day = step(unit, first_day, -1);
    }
    while first_instant(zone, step(unit, first_day, 1)) <= from {
        first_day = step(unit, first_day, 1);
    }
    let mut spans = Vec::new();
    let mut starts = from;
    while starts < to {
        let next_day = step(unit, first_day, 1);
        let ends = first_instant(zone, next_day).min(to);
        spans.push(Span { starts, ends });
        starts = ends;
        first_day = next_day;
    }
    spans
}

/// The first day of the unit holding `date`.
fn unit_start(unit: Bucket, date: NaiveDate) -> NaiveDate {
    match unit {
        Bucket::Day => date,
        Bucket::Week => date - Duration::days(i64::from(date.weekday().num_days_from_monday())),
        Bucket::Month => date.with_day(1).unwrap_or(date),
    }
}

/// The first day of the unit `count` units after (or before) the one starting on `first_day`.
fn step(unit: Bucket, first_day: NaiveDate, count: i64) -> NaiveDate {
    match unit {
        Bucket::Day => first_day + Duration::days(count),
        Bucket::Week => first_day + Duration::days(7 * count),
        Bucket::Month => {
            let months = Months::new(u32::try_from(count.unsigned_abs()).unwrap_or(u32::MAX));
            let moved =
                if count >= 0 { first_day.checked_add_months(months) } else { first_day.checked_sub_months(months) };
            moved.unwrap_or(first_day)
        }
    }
}

/// The earliest instant whose local date in `zone` is `date`.
pub fn first_instant(zone: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    // Where midnight is skipped, the first local minute that exists is the end of the gap.
    for minute in 0..=(24 * 60) {
        match zone.from_local_datetime(&(midnight + Duration::minutes(minute))) {
            LocalResult::Single(at) => return at.with_timezone(&Utc),
            LocalResult::Ambiguous(earlier, later) => return earlier.min(later).with_timezone(&Utc),
            LocalResult::None => continue,
        }
    }
    midnight.and_utc()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("an RFC 3339 instant")
    }

    #[test]
    fn days_follow_local_midnight_across_daylight_saving() {
        let spans =
            buckets(at("2026-03-07T05:00:00Z"), at("2026-03-10T04:00:00Z"), Tz::America__New_York, Some(Bucket::Day));
        let starts: Vec<_> = spans.iter().map(|s| s.starts.to_rfc3339()).collect();
        assert_eq!(starts, ["2026-03-07T05:00:00+00:00", "2026-03-08T05:00:00+00:00", "2026-03-09T04:00:00+00:00"]);
        assert_eq!(spans[1].ends - spans[1].starts, Duration::hours(23));
    }

    #[test]
    fn a_repeated_midnight_starts_the_day_at_its_first_occurrence() {
        // America/Havana goes back from 01:00 to 00:00 on 2026-11-01: midnight happens twice.
        let first = first_instant(Tz::America__Havana, NaiveDate::from_ymd_opt(2026, 11, 1).expect("date"));
        assert_eq!(first, at("2026-11-01T04:00:00Z"));
        let spans =
            buckets(at("2026-10-01T04:00:00Z"), at("2026-11-01T04:00:00Z"), Tz::America__Havana, Some(Bucket::Month));
        assert_eq!(spans.len(), 1, "{spans:?}");
    }

    #[test]
    fn a_skipped_midnight_starts_the_day_at_the_end_of_the_gap() {
        // America/Santiago springs forward at 24:00 on 2026-09-05: 2026-09-06 begins at 01:00.
        let first = first_instant(Tz::America__Santiago, NaiveDate::from_ymd_opt(2026, 9, 6).expect("date"));
        assert_eq!(first, at("2026-09-06T04:00:00Z"));
    }

    #[test]
    fn buckets_cover_the_period_without_gaps() {
        for zone in [Tz::Asia__Kathmandu, Tz::Australia__Lord_Howe, Tz::America__Havana, Tz::UTC] {
            for unit in [Bucket::Day, Bucket::Week, Bucket::Month] {
                let (from, to) = (at("2025-12-30T13:17:00Z"), at("2026-12-02T01:00:00Z"));
                let spans = buckets(from, to, zone, Some(unit));
                assert_eq!(spans.first().map(|s| s.starts), Some(from));
                assert_eq!(spans.last().map(|s| s.ends), Some(to));
                assert!(
                    spans.windows(2).all(|w| w[0].ends == w[1].starts && w[0].starts < w[0].ends),
                    "{zone} {unit:?}"
                );
            }
        }
    }
}
