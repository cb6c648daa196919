//! The daily run of `serve`: at the configured local time, once a day, on one server only.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::{RetentionRunStatus, RetentionSchedule, RetentionSettings, run_scheduled};
use crate::db::Db;
use crate::error::AppError;
use crate::http::Startup;

/// When another run holds the lock at the scheduled time (or the database is away), try again
/// this much later...
const LOCK_RETRY_DELAY: Duration = Duration::from_secs(60);
/// ...this many times in all, then leave it to the next day's run.
const LOCK_ATTEMPTS: u32 = 30;
/// Longest single sleep while waiting: a clock that is set meanwhile delays a run by at most this.
const LONGEST_SLEEP: Duration = Duration::from_secs(600);

/// Starts the daily runs in the background when `schedule` names a time; does nothing otherwise.
pub fn spawn_daily_runs(db: Db, settings: RetentionSettings, schedule: RetentionSchedule, startup: Arc<Startup>) {
    let Some(at) = schedule.daily_at else { return };
    tracing::info!(at = %at, time_zone = %schedule.time_zone, "daily retention runs are scheduled");
    tokio::spawn(async move {
        let mut after = Utc::now();
        loop {
            let due = next_daily_run(after, at, schedule.time_zone);
            sleep_until(due).await;
            // Due while the start-up migrations still run: wait for them rather than skip the day.
            while !startup.is_migrated() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            run_for_day(&db, &settings, &schedule, due, &startup).await;
            // Never the same occurrence twice, even when the timer fired a little early.
            after = Utc::now().max(due);
        }
    });
}

/// The first instant after `after` when the local time in `zone` is `at`. A time that falls into
/// a daylight-saving gap runs an hour later; in a repeated hour, the first time it comes.
pub fn next_daily_run(after: DateTime<Utc>, at: NaiveTime, zone: Tz) -> DateTime<Utc> {
    let today = after.with_timezone(&zone).date_naive();
    today
        .iter_days()
        .take(3)
        .filter_map(|day| local_instant(day, at, zone))
        .find(|due| *due > after)
        .unwrap_or(after + chrono::Duration::days(1))
}

fn local_instant(day: NaiveDate, at: NaiveTime, zone: Tz) -> Option<DateTime<Utc>> {
    let local = day.and_time(at);
    let resolve = |local| zone.from_local_datetime(&local).earliest();
    resolve(local)
        .or_else(|| local.checked_add_signed(chrono::Duration::hours(1)).and_then(resolve))
        .map(|instant| instant.with_timezone(&Utc))
}

async fn sleep_until(due: DateTime<Utc>) {
    while let Ok(wait) = (due - Utc::now()).to_std() {
        if wait.is_zero() {
            break;
        }
        tokio::time::sleep(wait.min(LONGEST_SLEEP)).await;
    }
}

/// Runs the day's retention unless a server has already run it that day.
async fn run_for_day(
    db: &Db,
    settings: &RetentionSettings,
    schedule: &RetentionSchedule,
    due: DateTime<Utc>,
    startup: &Startup,
) {
    let day = due.with_timezone(&schedule.time_zone).date_naive();
    for attempt in 1..=LOCK_ATTEMPTS {
        let (settings, schedule) = (settings.clone(), schedule.clone());
        let outcome = db.run(move |conn| run_scheduled(conn, &settings, &schedule, day, Utc::now())).await;
        startup.count_daily_retention_attempt();
        match outcome {
            Ok(Some(run)) if run.status == RetentionRunStatus::Failed => {
                tracing::error!(run = run.id, error = ?run.error, "the daily retention run failed");
                return;
            }
            Ok(Some(run)) => {
                tracing::info!(run = run.id, %day, "the daily retention run completed");
                return;
            }
            Ok(None) => {
                tracing::info!(%day, "the daily retention run already ran (on another server)");
                return;
            }
            // Another run holds the lock, or the database is briefly away: try again later.
            Err(err)
                if matches!(err.root(), AppError::Conflict(_) | AppError::Unavailable(_))
                    && attempt < LOCK_ATTEMPTS =>
            {
                tracing::info!(%day, reason = %err, retry_in = ?LOCK_RETRY_DELAY, "the daily retention run will be retried");
                tokio::time::sleep(LOCK_RETRY_DELAY).await;
            }
            Err(err) => {
                tracing::error!(%day, error = %err, debug = ?err, "the daily retention run could not start");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn time(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn the_next_run_is_today_when_the_time_is_still_ahead_else_tomorrow() {
        let at = time(3, 30);
        assert_eq!(next_daily_run(utc("2026-06-10T01:00:00Z"), at, Tz::UTC), utc("2026-06-10T03:30:00Z"));
        assert_eq!(next_daily_run(utc("2026-06-10T03:30:00Z"), at, Tz::UTC), utc("2026-06-11T03:30:00Z"));
        assert_eq!(next_daily_run(utc("2026-06-10T23:00:00Z"), at, Tz::UTC), utc("2026-06-11T03:30:00Z"));
    }

    #[test]
    fn local_time_follows_the_zone_and_its_daylight_saving_changes() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // Summer time: 03:30 in Berlin is 01:30 UTC.
        assert_eq!(next_daily_run(utc("2026-06-10T02:00:00Z"), time(3, 30), berlin), utc("2026-06-11T01:30:00Z"));
        // 2026-03-29 02:30 does not exist in Berlin (clocks jump 02:00 -> 03:00): it runs at 03:30 CEST.
        assert_eq!(next_daily_run(utc("2026-03-28T12:00:00Z"), time(2, 30), berlin), utc("2026-03-29T01:30:00Z"));
        // 2026-10-25 02:30 happens twice in Berlin: the first, still in summer time (00:30 UTC).
        assert_eq!(next_daily_run(utc("2026-10-24T12:00:00Z"), time(2, 30), berlin), utc("2026-10-25T00:30:00Z"));
        // The local date counts, not the UTC one: at 23:30 UTC on the 10th it is 08:30 on the 11th
        // in Tokyo, so 09:00 comes half an hour later.
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        assert_eq!(next_daily_run(utc("2026-06-10T23:30:00Z"), time(9, 0), tokyo), utc("2026-06-11T00:00:00Z"));
    }
}
