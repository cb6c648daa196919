//! Satisfaction ratings: recorded by staff, or submitted by the customer through a survey link.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::{caller, db, parse_id};
use crate::auth::{TokenError, TokenKeys};
use crate::domain::RatingSource;
use crate::domain::limits::{self, COMMENT_MAX};
use crate::domain::permissions;
use crate::error::AppError;
use crate::models::SatisfactionRating;
use crate::rate_limit::SurveyLimits;
use crate::store;
use crate::store::ratings::RatingInput;

/// How long survey links stay valid; the server sets it from configuration.
#[derive(Clone, Copy)]
pub struct SurveyTokenTtl(pub Duration);

/// The subject recorded for ratings that customers submit themselves.
pub const SURVEY_SUBMITTER: &str = "survey";

pub struct RatingNode(pub SatisfactionRating);

#[Object(name = "SatisfactionRating")]
impl RatingNode {
    /// 1 (very dissatisfied) to 5 (very satisfied).
    async fn rating(&self) -> i32 {
        i32::from(self.0.rating)
    }
    async fn comment(&self) -> Option<&str> {
        self.0.comment.as_deref()
    }
    async fn source(&self) -> RatingSource {
        self.0.source
    }
    /// The staff subject that recorded it, or "survey".
    async fn submitted_by(&self) -> &str {
        &self.0.submitted_by
    }
    async fn submitted_at(&self) -> DateTime<Utc> {
        self.0.submitted_at
    }
}

/// A single-purpose link token for one ticket's satisfaction survey.
#[derive(SimpleObject)]
pub struct SurveyLink {
    /// Give this to the customer (e.g. in a link); it rates this ticket only and expires.
    pub token: String,
    pub ticket_number: String,
    pub expires_at: DateTime<Utc>,
}

/// What a customer sees after rating.
#[derive(SimpleObject)]
pub struct SurveyReceipt {
    pub ticket_number: String,
    pub rating: i32,
    pub submitted_at: DateTime<Utc>,
}

fn checked_rating(rating: i32) -> Result<i16, AppError> {
    if (1..=5).contains(&rating) {
        Ok(rating as i16)
    } else {
        Err(AppError::bad_input("rating", format!("must be 1 to 5, got {rating}")))
    }
}

fn survey_keys<'a>(ctx: &Context<'a>) -> Result<&'a Arc<TokenKeys>, AppError> {
    ctx.data_opt::<Arc<TokenKeys>>().ok_or_else(|| AppError::internal("the schema has no token keys attached"))
}

#[derive(Default)]
pub struct SatisfactionMutation;

#[Object]
impl SatisfactionMutation {
    /// Records the customer's rating of a RESOLVED or CLOSED ticket. A second rating replaces the
    /// first; both appear in the timeline.
    async fn record_satisfaction(
        &self,
        ctx: &Context<'_>,
        ticket_id: ID,
        rating: i32,
        comment: Option<String>,
    ) -> Result<RatingNode, AppError> {
        let caller = caller(ctx)?.clone();
        let new = RatingInput {
            ticket_id: parse_id("ticketId", &ticket_id)?,
            rating: checked_rating(rating)?,
            comment: limits::optional_text("comment", comment.as_deref(), COMMENT_MAX)?,
            source: RatingSource::Staff,
            submitted_by: caller.subject.clone(),
        };
        let may_rate =
            move |ticket: &crate::models::Ticket| permissions::may_change_ticket(&caller, ticket.assignee_id);
        let recorded = db(ctx)?.run(move |conn| store::ratings::record(conn, new, may_rate)).await?;
        Ok(RatingNode(recorded))
    }

    /// A survey link token for the customer of a ticket: it rates that ticket only, through
    /// `submitSatisfaction`, and expires.
    async fn satisfaction_survey_link(&self, ctx: &Context<'_>, ticket_id: ID) -> Result<SurveyLink, AppError> {
        let caller = caller(ctx)?;
        let id = parse_id("ticketId", &ticket_id)?;
        let ticket = db(ctx)?.run(move |conn| store::tickets::find(conn, id)).await?;
        // A link rates the ticket anonymously: whoever may not rate it may not hand out a link.
        permissions::may_change_ticket(caller, ticket.assignee_id)?;
        let ttl = ctx.data_opt::<SurveyTokenTtl>().map_or(Duration::from_secs(14 * 86_400), |ttl| ttl.0);
        let (token, expires) = survey_keys(ctx)?.issue_survey(ticket.id, ttl).map_err(AppError::internal)?;
        Ok(SurveyLink {
            token,
            ticket_number: ticket.number,
            expires_at: DateTime::from_timestamp(expires, 0).unwrap_or(DateTime::<Utc>::MAX_UTC),
        })
    }

    /// The customer's own rating through a survey link: needs no staff token, only the link's
    /// token, which must be for this ticket and unexpired.
    async fn submit_satisfaction(
        &self,
        ctx: &Context<'_>,
        ticket_number: String,
        token: String,
        rating: i32,
        comment: Option<String>,
    ) -> Result<SurveyReceipt, AppError> {
        let token_ticket = survey_keys(ctx)?.verify_survey(&token).map_err(|err: TokenError| {
            tracing::info!(reason = %err, "survey token refused");
            AppError::Unauthenticated("the survey link is invalid or has expired".into())
        })?;
        // A staff token's check first (immediate for the anonymous survey page, which has none):
        // a revoked or deactivated token spends none of the link's budget.
        db(ctx)?.gate_passed().await?;
        if let Some(limits) = ctx.data_opt::<Arc<SurveyLimits>>() {
            limits
                .check_link(&token)
                .map_err(|limited| AppError::RateLimited { what: "through this survey link", limited })?;
        }
        let number = limits::required_text("ticketNumber", &ticket_number, 32)?;
        let new = RatingInput {
            ticket_id: token_ticket,
            rating: checked_rating(rating)?,
            comment: limits::optional_text("comment", comment.as_deref(), COMMENT_MAX)?,
            source: RatingSource::Survey,
            submitted_by: SURVEY_SUBMITTER.to_owned(),
        };
        let may_rate = move |ticket: &crate::models::Ticket| {
            if ticket.number == number {
                Ok(())
            } else {
                Err(AppError::Forbidden("this survey link is for another ticket".into()))
            }
        };
        let recorded = db(ctx)?.run(move |conn| store::ratings::record(conn, new, may_rate)).await?;
        let ticket_number = db(ctx)?.run(move |conn| store::tickets::find(conn, token_ticket)).await?.number;
        Ok(SurveyReceipt { ticket_number, rating: i32::from(recorded.rating), submitted_at: recorded.submitted_at })
    }
}
