//! How long records are kept, how big a batch is, and when the daily run happens.

use std::time::Duration;

use chrono::NaiveTime;
use chrono_tz::Tz;
use clap::Args;

use crate::config::parse_duration;

const DAY: u64 = 24 * 3600;
/// Two calendar years hold at most 731 days, five at most 1,827: with these defaults a record is
/// never removed before PRODUCT.md's period has passed, whatever the leap days.
pub const DEFAULT_TICKETS: Duration = Duration::from_secs(731 * DAY);
pub const DEFAULT_INTERACTIONS: Duration = Duration::from_secs(731 * DAY);
pub const DEFAULT_REPORTS: Duration = Duration::from_secs(1827 * DAY);
pub const DEFAULT_IMPROVEMENT_ACTIONS: Duration = Duration::from_secs(1827 * DAY);
pub const DEFAULT_BATCH_SIZE: u32 = 1000;
/// Longest accepted period: a cut-off always stays a representable, sensible instant.
const PERIOD_MAX: Duration = Duration::from_secs(100 * 366 * DAY);

/// The retention periods and the batch size of a run (`serve` and `deskpulse retention run`).
#[derive(Args, Debug, Clone, PartialEq, Eq)]
#[command(next_help_heading = "Retention")]
pub struct RetentionSettings {
    /// How long a CLOSED ticket is kept after its closedAt, with its events, ratings and
    /// interactions. Tickets that are not closed are never removed.
    #[arg(long = "retain-tickets", env = "DESKPULSE_RETAIN_TICKETS", value_name = "DURATION",
          default_value = "731days", value_parser = parse_period)]
    pub tickets: Duration,

    /// How long an interaction is kept after its occurredAt.
    #[arg(long = "retain-interactions", env = "DESKPULSE_RETAIN_INTERACTIONS", value_name = "DURATION",
          default_value = "731days", value_parser = parse_period)]
    pub interactions: Duration,

    /// How long a performance report is kept after its generatedAt.
    #[arg(long = "retain-reports", env = "DESKPULSE_RETAIN_REPORTS", value_name = "DURATION",
          default_value = "1827days", value_parser = parse_period)]
    pub reports: Duration,

    /// How long a completed or abandoned improvement action (with its change log) is kept after
    /// it ended. Actions still open are never removed.
    #[arg(long = "retain-improvement-actions", env = "DESKPULSE_RETAIN_IMPROVEMENT_ACTIONS",
          value_name = "DURATION", default_value = "1827days", value_parser = parse_period)]
    pub improvement_actions: Duration,

    /// Most records (tickets, interactions, reports or actions) removed per transaction.
    #[arg(long = "retention-batch-size", env = "DESKPULSE_RETENTION_BATCH_SIZE", value_name = "N",
          default_value_t = DEFAULT_BATCH_SIZE, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,
}

impl Default for RetentionSettings {
    /// The same values as the command line's defaults.
    fn default() -> Self {
        RetentionSettings {
            tickets: DEFAULT_TICKETS,
            interactions: DEFAULT_INTERACTIONS,
            reports: DEFAULT_REPORTS,
            improvement_actions: DEFAULT_IMPROVEMENT_ACTIONS,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// The optional daily run of `serve`.
#[derive(Args, Debug, Clone, Default, PartialEq, Eq)]
#[command(next_help_heading = "Retention")]
pub struct RetentionSchedule {
    /// Run retention once a day at this local time (HH:MM or HH:MM:SS); off when unset. With
    /// several servers on one database, one of them runs it.
    #[arg(long = "retention-daily-at", env = "DESKPULSE_RETENTION_DAILY_AT", value_name = "HH:MM",
          value_parser = parse_time_of_day)]
    pub daily_at: Option<NaiveTime>,

    /// The IANA time zone of --retention-daily-at, e.g. Europe/Berlin.
    #[arg(long = "retention-time-zone", env = "DESKPULSE_RETENTION_TIME_ZONE", value_name = "ZONE",
          default_value = "UTC", value_parser = parse_time_zone)]
    pub time_zone: Tz,
}

/// A retention period: a human duration (e.g. `731days`, `2years`), more than zero and at most a
/// century.
pub fn parse_period(value: &str) -> Result<Duration, String> {
    let period = parse_duration(value)?;
    if period.is_zero() {
        return Err("a retention period must be longer than zero".into());
    }
    if period > PERIOD_MAX {
        return Err("a retention period must be at most 100 years".into());
    }
    Ok(period)
}

/// `HH:MM` or `HH:MM:SS`, 24-hour clock.
pub fn parse_time_of_day(value: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(value, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(value, "%H:%M:%S"))
        .map_err(|_| format!("{value:?} is not a time of day (HH:MM or HH:MM:SS, e.g. 03:30)"))
}

pub fn parse_time_zone(value: &str) -> Result<Tz, String> {
    value.parse::<Tz>().map_err(|_| format!("{value:?} is not an IANA time zone (e.g. UTC, Europe/Berlin)"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        settings: RetentionSettings,
        #[command(flatten)]
        schedule: RetentionSchedule,
    }

    #[test]
    fn the_defaults_are_the_command_lines_defaults() {
        let parsed = Command::try_parse_from(["deskpulse"]).unwrap();
        assert_eq!(parsed.settings, RetentionSettings::default());
        assert_eq!(parsed.schedule, RetentionSchedule { daily_at: None, time_zone: Tz::UTC });
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse_period("0s").is_err());
        assert!(parse_period("200years").is_err());
        assert_eq!(parse_period("30days"), Ok(Duration::from_secs(30 * DAY)));
        assert!(Command::try_parse_from(["deskpulse", "--retention-batch-size", "0"]).is_err());
        assert!(Command::try_parse_from(["deskpulse", "--retention-batch-size", "100001"]).is_err());
        assert_eq!(parse_time_of_day("03:30"), Ok(NaiveTime::from_hms_opt(3, 30, 0).unwrap()));
        assert_eq!(parse_time_of_day("23:59:30"), Ok(NaiveTime::from_hms_opt(23, 59, 30).unwrap()));
        assert!(parse_time_of_day("24:00").is_err());
        assert!(parse_time_zone("Mars/Olympus").is_err());
    }
}
