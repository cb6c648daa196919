//! Input limits, checked before anything is written. The migrations' CHECKs hold the same bounds,
//! so nothing longer reaches the database by another path. docs/api.md lists them.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use crate::error::AppError;

pub const NAME_MAX: usize = 200;
pub const EMAIL_MAX: usize = 320;
pub const PHONE_MAX: usize = 50;
pub const ORGANIZATION_MAX: usize = 200;
pub const TEAM_MAX: usize = 100;
pub const SUBJECT_MAX: usize = 200;
pub const DESCRIPTION_MAX: usize = 20_000;
pub const CATEGORY_MAX: usize = 64;
pub const NOTE_MAX: usize = 20_000;
pub const SEARCH_MAX: usize = 200;
pub const SUMMARY_MAX: usize = 20_000;
pub const COMMENT_MAX: usize = 5_000;
pub const EXTERNAL_REF_MAX: usize = 200;
/// Longest interaction a log entry may claim: a week, in seconds.
pub const DURATION_MAX_SECONDS: i32 = 7 * 24 * 3600;
/// Most tickets one import batch may carry.
pub const IMPORT_BATCH_MAX: usize = 1_000;
/// The longest period a KPI query or an export may span, in days (five years).
pub const PERIOD_MAX_DAYS: i64 = 366 * 5;
/// Largest page a list field returns.
pub const PAGE_MAX: i32 = 100;
/// Longest token subject (`sub`): it is recorded as the actor of every change.
pub const TOKEN_SUBJECT_MAX: usize = 200;
/// The first day a KPI period, report or export may cover: no support record is older.
pub const EARLIEST_DATE: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
/// The day after the last day a period may cover (exclusive).
pub const LATEST_DATE: NaiveDate = NaiveDate::from_ymd_opt(2100, 1, 1).expect("a valid date");
/// Most characters of a client's input an error message quotes.
pub const QUOTE_MAX: usize = 40;
/// Longest error message a client is sent; longer ones (a library's message quoting input) are cut.
pub const MESSAGE_MAX: usize = 300;

/// A period `[from, to)` inside the supported years: [`EARLIEST_DATE`] to [`LATEST_DATE`].
pub fn period_in_range(field: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), AppError> {
    let earliest = EARLIEST_DATE.and_time(NaiveTime::MIN).and_utc();
    let latest = LATEST_DATE.and_time(NaiveTime::MIN).and_utc();
    if from < earliest || to > latest {
        let message = format!("must lie between {EARLIEST_DATE}T00:00:00Z and {LATEST_DATE}T00:00:00Z");
        return Err(AppError::bad_input(field, message));
    }
    Ok(())
}

/// A token subject: 1 to [`TOKEN_SUBJECT_MAX`] characters, not blank, no control characters (it goes
/// into logs and the audit trail as it is).
pub fn subject(value: &str) -> Result<(), String> {
    let length = value.chars().count();
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if length > TOKEN_SUBJECT_MAX {
        return Err(format!("at most {TOKEN_SUBJECT_MAX} characters, got {length}"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// A client's input as an error message quotes it: in quotes, at most [`QUOTE_MAX`] characters,
/// saying how long it was when it is cut.
pub fn quoted(value: &str) -> String {
    let length = value.chars().count();
    if length <= QUOTE_MAX {
        return format!("{value:?}");
    }
    let start: String = value.chars().take(QUOTE_MAX).collect();
    format!("{start:?}… ({length} characters)")
}

/// An error message cut to [`MESSAGE_MAX`] characters.
pub fn shortened_message(message: &str) -> Option<String> {
    if message.chars().count() <= MESSAGE_MAX {
        return None;
    }
    let start: String = message.chars().take(MESSAGE_MAX - 1).collect();
    Some(format!("{start}…"))
}

/// A required text: trimmed, non-empty, at most `max` characters.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, AppError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(AppError::bad_input(field, "must not be empty"));
    }
    bounded(field, trimmed, max)?;
    Ok(trimmed.to_owned())
}

/// An optional text: trimmed; empty means absent.
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>, AppError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(trimmed) => bounded(field, trimmed, max).map(|()| Some(trimmed.to_owned())),
    }
}

/// A free text kept as written (descriptions, notes), at most `max` characters.
pub fn free_text(field: &str, value: &str, max: usize) -> Result<String, AppError> {
    bounded(field, value, max)?;
    Ok(value.to_owned())
}

fn bounded(field: &str, value: &str, max: usize) -> Result<(), AppError> {
    let length = value.chars().count();
    if length > max {
        return Err(AppError::bad_input(field, format!("at most {max} characters, got {length}")));
    }
    if value.contains('\0') {
        return Err(AppError::bad_input(field, "must not contain NUL characters"));
    }
    Ok(())
}

/// An e-mail address: trimmed, bounded, with something on both sides of one `@`.
pub fn email(field: &str, value: &str) -> Result<String, AppError> {
    let email = required_text(field, value, EMAIL_MAX)?;
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@') => Ok(email),
        _ => Err(AppError::bad_input(field, "is not an e-mail address")),
    }
}

/// A page size: 1 to [`PAGE_MAX`].
pub fn page_size(field: &str, first: Option<i32>, default: i32) -> Result<i64, AppError> {
    let first = first.unwrap_or(default);
    if !(1..=PAGE_MAX).contains(&first) {
        return Err(AppError::bad_input(field, format!("must be between 1 and {PAGE_MAX}, got {first}")));
    }
    Ok(i64::from(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_input_is_quoted_by_its_start_and_length() {
        assert_eq!(quoted("Europe/Berlin"), "\"Europe/Berlin\"");
        let long = "x".repeat(5_000);
        let quote = quoted(&long);
        assert!(quote.starts_with(&format!("\"{}\"", "x".repeat(QUOTE_MAX))), "{quote}");
        assert!(quote.ends_with("(5000 characters)"), "{quote}");
        assert_eq!(shortened_message("short"), None);
        assert_eq!(shortened_message(&"é".repeat(MESSAGE_MAX + 1)).map(|m| m.chars().count()), Some(MESSAGE_MAX));
    }

    #[test]
    fn subjects_are_bounded() {
        assert!(subject("tess").is_ok() && subject(&"s".repeat(TOKEN_SUBJECT_MAX)).is_ok());
        for bad in ["", "  ", "a\nb", "tab\there"] {
            assert!(subject(bad).is_err(), "{bad:?}");
        }
        assert!(subject(&"s".repeat(TOKEN_SUBJECT_MAX + 1)).unwrap_err().contains("at most 200"));
    }

    #[test]
    fn periods_stay_inside_the_supported_years() {
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        assert!(period_in_range("period", at("1970-01-01T00:00:00Z"), at("2100-01-01T00:00:00Z")).is_ok());
        assert!(period_in_range("period", at("1969-12-31T23:59:59Z"), at("1970-02-01T00:00:00Z")).is_err());
        assert!(period_in_range("period", at("2099-12-01T00:00:00Z"), at("2100-01-01T00:00:01Z")).is_err());
    }
}
