//! Store functions: the diesel queries. They take a connection, return row structs or plain
//! values, and know nothing about GraphQL.

pub mod access;
pub mod changes;
pub mod customers;
pub mod exports;
pub mod import;
pub mod improvement;
pub mod interactions;
pub mod kpi_block_cache;
pub mod kpi_blocks;
pub mod kpi_facts;
pub mod kpis;
pub mod plan_once;
pub mod ratings;
pub mod reports;
pub mod retention;
pub mod sla;
pub mod system;
pub mod technicians;
pub mod tickets;

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::error::AppError;

/// Maps a unique-constraint violation to CONFLICT on `field`; anything else as usual.
pub(crate) fn conflict_on_unique(err: DieselError, field: &str, message: &str) -> AppError {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            AppError::Conflict(format!("{field}: {message}"))
        }
        other => other.into(),
    }
}

/// Escapes `%`, `_` and `\` so a user's search text matches literally inside ILIKE '%...%'.
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}
