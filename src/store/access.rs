//! What the database says about a verified token's caller: whether its subject's tokens were
//! revoked, and whether the technician it acts as is active. Read on every authenticated request,
//! in one statement over two primary keys.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz};

use crate::error::AppError;
use crate::models::TokenRevocation;
use crate::schema::token_revocations;

/// A caller's standing: the subject's revocation instant (if any) and, when the token names a
/// technician, whether that technician exists and is active.
#[derive(QueryableByName, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub not_before: Option<DateTime<Utc>>,
    /// None when the token names no technician, or one that does not exist.
    #[diesel(sql_type = Nullable<Bool>)]
    pub technician_active: Option<bool>,
}

pub fn standing(conn: &mut PgConnection, subject: &str, technician_id: Option<i64>) -> Result<Standing, AppError> {
    Ok(diesel::sql_query(
        "SELECT (SELECT not_before FROM token_revocations WHERE subject = $1) AS not_before, \
                (SELECT active FROM technicians WHERE id = $2) AS technician_active",
    )
    .bind::<Text, _>(subject)
    .bind::<Nullable<BigInt>, _>(technician_id)
    .get_result(conn)?)
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
