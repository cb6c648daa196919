//! What the database says about a verified token's caller: whether its subject's tokens were
//! revoked, and the technician it acts as (whether they exist and are active). Read on every
//! authenticated request, in one prepared statement over two primary keys.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::error::AppError;
use crate::models::{Technician, TokenRevocation};
use crate::schema::{technicians, token_revocations};

/// A caller's standing: the subject's revocation instant (if any) and, when the token names a
/// technician that exists, their record.
#[derive(Debug, Clone)]
pub struct Standing {
    pub not_before: Option<DateTime<Utc>>,
    pub technician: Option<Technician>,
}

impl Standing {
    /// Whether a token naming `technician_id` (if any) acts for an active technician: false when
    /// the one it names is deactivated or does not exist. Such a token reads but writes nothing.
    pub fn technician_active(&self, technician_id: Option<i64>) -> bool {
        technician_id.is_none() || self.technician.as_ref().is_some_and(|technician| technician.active)
    }
}

/// Built with the query builder, not as SQL text, so that diesel prepares it once per connection:
/// it runs before every authenticated request. Without a `LIMIT` (both keys are primary keys): a
/// bound limit would have PostgreSQL plan it afresh at every execution (store::plan_once). A token
/// naming a technician reads the technician with the revocation joined in; the request's loaders start with that record, so the caller's
/// own technician (`me.technician`) costs no statement of its own. Only a token naming a
/// technician that does not exist costs a second statement.
pub fn standing(conn: &mut PgConnection, subject: &str, technician_id: Option<i64>) -> Result<Standing, AppError> {
    if let Some(id) = technician_id {
        let found: Option<(Technician, Option<DateTime<Utc>>)> = technicians::table
            .left_join(token_revocations::table.on(token_revocations::subject.eq(subject)))
            .filter(technicians::id.eq(id))
            .select((Technician::as_select(), token_revocations::not_before.nullable()))
            .get_result(conn)
            .optional()?;
        if let Some((technician, not_before)) = found {
            return Ok(Standing { not_before, technician: Some(technician) });
        }
    }
    let not_before = token_revocations::table
        .filter(token_revocations::subject.eq(subject))
        .select(token_revocations::not_before)
        .get_result(conn)
        .optional()?;
    Ok(Standing { not_before, technician: None })
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
