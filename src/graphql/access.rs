//! Revoking tokens before they expire: ADMIN sets the instant before which a subject's tokens are
//! refused. The server reads it on every request (http::access), so it holds at once on every
//! instance.

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Duration, Utc};

use super::{caller, db};
use crate::auth::{Role, RoleGuard};
use crate::domain::limits;
use crate::error::AppError;
use crate::models::TokenRevocation;
use crate::store;

/// How far ahead of the server's clock `notBefore` may be (clock skew).
const FUTURE_SKEW_SECONDS: i64 = 60;

/// A subject's revocation: its tokens issued before `notBefore` are refused.
#[derive(SimpleObject)]
#[graphql(name = "TokenRevocation")]
pub struct RevocationNode {
    pub subject: String,
    pub not_before: DateTime<Utc>,
    pub revoked_by: String,
    pub revoked_at: DateTime<Utc>,
}

impl From<TokenRevocation> for RevocationNode {
    fn from(row: TokenRevocation) -> Self {
        RevocationNode {
            subject: row.subject,
            not_before: row.not_before,
            revoked_by: row.revoked_by,
            revoked_at: row.revoked_at,
        }
    }
}

#[derive(Default)]
pub struct AccessMutation;

#[Object]
impl AccessMutation {
    /// Refuses every token of `subject` (its `sub` claim) issued before `notBefore` (default: now),
    /// from the next request on. Moving the instant back lets the tokens issued after it work again;
    /// a token from the very second of the instant counts as issued before it. ADMIN only.
    #[graphql(guard = "RoleGuard::new(Role::Admin)")]
    async fn revoke_tokens(
        &self,
        ctx: &Context<'_>,
        subject: String,
        not_before: Option<DateTime<Utc>>,
    ) -> Result<Option<RevocationNode>, AppError> {
        let revoked_by = caller(ctx)?.subject.clone();
        limits::subject(&subject).map_err(|reason| AppError::bad_input("subject", reason))?;
        let now = Utc::now();
        let not_before = not_before.unwrap_or(now);
        if not_before > now + Duration::seconds(FUTURE_SKEW_SECONDS) {
            return Err(AppError::bad_input("notBefore", "must not be in the future"));
        }
        let revocation = TokenRevocation { subject, not_before, revoked_by, revoked_at: now };
        tracing::info!(subject = %revocation.subject, %not_before, "tokens revoked");
        let row = db(ctx)?.run(move |conn| store::access::revoke(conn, &revocation)).await?;
        Ok(Some(row.into()))
    }
}
