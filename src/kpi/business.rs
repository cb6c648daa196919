//! Business time for the SLA KPIs, in the calendar copies tickets' clocks count in.
//!
//! A question's pass measures business time for every ticket whose SLA clock stopped in its
//! period; walking a calendar day by day for each (several time-zone conversions a day) would
//! cost more than the rest of the pass. So each calendar's open stretches over the question's
//! range are laid out once, with the business time before each, and a span is the difference of
//! two look-ups. Spans reaching outside the range are walked by the calendar itself: the same
//! stretches, so the same answer.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::facts::{Micros, micros};
use crate::domain::sla::Calendar;

/// One calendar's open stretches over `[from, to]`, and the business time before each.
pub struct BusinessClock {
    calendar: Calendar,
    from: Micros,
    to: Micros,
    /// `(start, end)` of each open stretch within the range, in order.
    stretches: Vec<(Micros, Micros)>,
    /// Business microseconds in the stretches before each one.
    before: Vec<i64>,
}

impl BusinessClock {
    pub fn new(calendar: Calendar, from: DateTime<Utc>, to: DateTime<Utc>) -> BusinessClock {
        let stretches: Vec<(Micros, Micros)> =
            calendar.open_between(from, to).map(|(start, end)| (micros(start), micros(end))).collect();
        let before = stretches
            .iter()
            .scan(0i64, |total, (start, end)| {
                let so_far = *total;
                *total += end - start;
                Some(so_far)
            })
            .collect();
        BusinessClock { calendar, from: micros(from), to: micros(to), stretches, before }
    }

    /// Business microseconds between two instants (zero when `to` is not after `from`).
    pub fn between(&self, from: Micros, to: Micros) -> i64 {
        if to <= from {
            return 0;
        }
        if from >= self.from && to <= self.to {
            return self.elapsed_at(to) - self.elapsed_at(from);
        }
        let instant = |at: Micros| DateTime::from_timestamp_micros(at).unwrap_or_default();
        self.calendar.business_time(instant(from), instant(to)).num_microseconds().unwrap_or(i64::MAX)
    }

    /// Business microseconds from the range's start to `at` (within the range).
    fn elapsed_at(&self, at: Micros) -> i64 {
        let after = self.stretches.partition_point(|(start, _)| *start <= at);
        match after.checked_sub(1) {
            Some(last) => {
                let (start, end) = self.stretches[last];
                self.before[last] + end.min(at) - start
            }
            None => 0,
        }
    }
}

/// The calendar copies of a question (`sla_calendar_copies`), by id.
#[derive(Default)]
pub struct BusinessClocks(HashMap<i64, BusinessClock>);

impl BusinessClocks {
    /// Clocks of `calendars` laid out over `[from, to]`.
    pub fn new(calendars: impl IntoIterator<Item = (i64, Calendar)>, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        BusinessClocks(
            calendars.into_iter().map(|(id, calendar)| (id, BusinessClock::new(calendar, from, to))).collect(),
        )
    }

    pub fn get(&self, id: i64) -> Option<&BusinessClock> {
        self.0.get(&id)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::sla::OpeningInterval;

    fn new_york_office() -> Calendar {
        let day = vec![OpeningInterval { start: 9 * 60, end: 17 * 60 }];
        Calendar {
            time_zone: chrono_tz::America::New_York,
            week: [day.clone(), day.clone(), day.clone(), day.clone(), day, Vec::new(), Vec::new()],
            holidays: Vec::new(),
        }
    }

    #[test]
    fn spans_agree_with_the_calendar_inside_and_outside_the_range() {
        let calendar = new_york_office();
        let (from, to) =
            (Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(), Utc.with_ymd_and_hms(2026, 3, 31, 0, 0, 0).unwrap());
        let clock = BusinessClock::new(calendar.clone(), from, to);
        // Every 7 hours 13 minutes from February to April, against every later one a few days on:
        // across the March change, weekends, and both ends of the range.
        let instants: Vec<DateTime<Utc>> = (0..300)
            .map(|n| Utc.with_ymd_and_hms(2026, 2, 20, 0, 0, 0).unwrap() + chrono::Duration::minutes(433 * n))
            .collect();
        for (i, a) in instants.iter().enumerate() {
            for b in instants.iter().skip(i).step_by(7).take(6) {
                let expected = calendar.business_time(*a, *b).num_microseconds().unwrap();
                assert_eq!(clock.between(micros(*a), micros(*b)), expected, "{a} to {b}");
            }
        }
        assert_eq!(clock.between(micros(to), micros(from)), 0);
    }
}
