//! What the database says about a verified token's caller: whether its subject's tokens were
//! revoked, and whether the technician it acts as is active. Read on every authenticated request,
//! in one prepared statement over two primary keys.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::error::AppError;
use crate::models::TokenRevocation;
use crate::schema::{technicians, token_revocations};

/// A caller's standing: the subject's revocation instant (if any) and, when the token names a
/// technician, whether that technician exists and is active.
#[derive(Queryable, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub not_before: Option<DateTime<Utc>>,
    /// None when the token names no technician, or one that does not exist.
    pub technician_active: Option<bool>,
}

/// Built with the query builder, not as SQL text, so that diesel prepares it once per connection:
/// it runs before every authenticated request.
pub fn standing(conn: &mut PgConnection, subject: &str, technician_id: Option<i64>) -> Result<Standing, AppError> {
    let not_before =
        token_revocations::table.filter(token_revocations::subject.eq(subject)).select(token_revocations::not_before);
    let technician_active =
        technicians::table.filter(technicians::id.nullable().eq(technician_id)).select(technicians::active);
    Ok(diesel::select((not_before.single_value(), technician_active.single_value())).get_result(conn)?)
}

/// Sets (or moves) a subject's revocation instant.
pub fn revoke(conn: &mut PgConnection, revocation: &TokenRevocation) -> Result<TokenRevocation, AppError> {
    Ok(diesel::insert_into(token_revocations::table)
        .values(revocation)
        .on_conflict(token_revocations::subject)
        .do_update()
        .set((
            token_revocations::not_before.eq(revocation.not_before),
            token_revocations::revoked_by.eq(&revocation.revoked_by),
            token_revocations::revoked_at.eq(revocation.revoked_at),
        ))
        .returning(TokenRevocation::as_returning())
        .get_result(conn)?)
}
