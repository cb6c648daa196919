//! The one place a bearer token becomes the caller, for GraphQL and the exports alike: the
//! signature and claims are checked in memory, then one statement reads the subject's
//! revocation instant and the technician the token acts for. Nothing is cached,
//! so a revocation or a deactivation holds on every instance from the next request on.
//!
//! That statement runs before anything else the request does: on a trip of its own, or, for a
//! query or a mutation, with its first statements ([`StandingCheck`]), which saves the request a
//! trip to a statement thread and a connection checkout.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;

use std::sync::{Arc, OnceLock};

use super::AppState;
use crate::auth::{Caller, Claims, TokenError};
use crate::db::Precondition;
use crate::domain::permissions;
use crate::error::AppError;
use crate::models::Technician;
use crate::store;

/// Why a request has no caller.
#[derive(Debug)]
pub enum Refused {
    /// No token, or one that is invalid, expired or revoked: 401.
    Token(TokenError),
    /// The database could not say whether the token stands: refused rather than trusted.
    Unchecked(AppError),
}

/// The bearer token's verified claims (no I/O).
pub fn verified_claims(request: &HttpRequest, state: &AppState) -> Result<Claims, TokenError> {
    let header = request.headers().get(AUTHORIZATION).ok_or(TokenError::Missing)?;
    let value = header.to_str().map_err(|_| TokenError::Missing)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(TokenError::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Missing);
    }
    state.keys.verify(token.trim())
}

/// The caller that verified `claims` stand for, unless their subject's tokens were revoked since
/// they were issued. Needs the migrated database.
pub async fn caller_of(claims: Claims, state: &AppState) -> Result<Caller, Refused> {
    Ok(caller_and_technician(claims, state).await?.0)
}

/// [`caller_of`], with the record of the technician the token acts as when it names one that
/// exists (read by the same statement).
pub async fn caller_and_technician(claims: Claims, state: &AppState) -> Result<(Caller, Option<Technician>), Refused> {
    let (subject, technician_id) = (claims.sub.clone(), claims.technician_id);
    let standing = state
        .access_db
        .run(move |conn| store::access::standing(conn, &subject, technician_id))
        .await
        .map_err(Refused::Unchecked)?;
    if permissions::is_revoked(claims.iat, standing.not_before) {
        return Err(Refused::Token(TokenError::Revoked));
    }
    let technician_active = standing.technician_active(technician_id);
    Ok((Caller::new(claims, technician_active), standing.technician))
}

/// The token check of a query or a mutation, as a precondition of the request's statements
/// (`Db::gated`): the same statement and the same revocation rule as [`caller_and_technician`],
/// run on the primary with the first of them; a refusal answers the request 401 and fails every
/// statement. A mutation's check also holds [`permissions::may_write`]: a token acting for a
/// deactivated technician fails every statement of it with that refusal, so nothing is written.
pub struct StandingCheck {
    subject: String,
    technician_id: Option<i64>,
    issued_at: i64,
    writes: bool,
    /// The technician the token acts for, once the check has passed.
    pub technician: Arc<OnceLock<Option<Technician>>>,
}

impl StandingCheck {
    /// The caller of a query (or, with `writes`, a mutation) and the check its statements wait
    /// for. Until the check has read the technician, the caller counts as acting for an inactive
    /// one: nothing reads that flag but `permissions::may_write`, which a mutation's check holds
    /// itself.
    pub fn of(claims: Claims, writes: bool) -> (Caller, StandingCheck) {
        let check = StandingCheck {
            subject: claims.sub.clone(),
            technician_id: claims.technician_id,
            issued_at: claims.iat,
            writes,
            technician: Arc::default(),
        };
        (Caller::new(claims, false), check)
    }
}

impl Precondition for StandingCheck {
    fn check(&self, conn: &mut diesel::PgConnection) -> Result<bool, AppError> {
        let standing = store::access::standing(conn, &self.subject, self.technician_id)?;
        if permissions::is_revoked(self.issued_at, standing.not_before) {
            return Ok(false);
        }
        if self.writes {
            permissions::may_write_as(self.technician_id, standing.technician_active(self.technician_id)).inspect_err(
                |_| tracing::info!(subject = %self.subject, "write refused: the caller's technician is not active"),
            )?;
        }
        // A check that passed is final: this is the only set.
        let _ = self.technician.set(standing.technician);
        Ok(true)
    }
}

/// [`verified_claims`] and [`caller_of`] together.
pub async fn authenticate(request: &HttpRequest, state: &AppState) -> Result<Caller, Refused> {
    let claims = verified_claims(request, state).map_err(Refused::Token)?;
    caller_of(claims, state).await
}
