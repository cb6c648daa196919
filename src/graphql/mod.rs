//! The GraphQL layer: the schema, its resolvers and the request-scoped data they read.
//!
//! Resolvers check permissions, validate input shape and call store functions; they never build
//! SQL.

mod access;
pub mod bounds;
mod cost;
mod direct;
mod import;
mod improvement;
mod interactions;
mod kpis;
mod loaders;
mod pagination;
mod reports;
mod retention;
mod satisfaction;
mod sla;
mod staff;
mod subscriptions;
mod system;
mod tickets;

pub use satisfaction::SurveyTokenTtl;
pub use subscriptions::{LiveExecutor, SubscriptionRoot, connection_data};

use async_graphql::{Context, ID, MergedObject, Request, Schema, SchemaBuilder};

use crate::auth::Caller;
use crate::config::LimitSettings;
use crate::db::Db;
use crate::error::AppError;

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    system::SystemQuery,
    staff::StaffQuery,
    tickets::TicketQuery,
    interactions::InteractionQuery,
    kpis::KpiQueryRoot,
    reports::ReportQuery,
    improvement::ImprovementQuery,
    retention::RetentionQuery,
    sla::SlaQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    staff::StaffMutation,
    access::AccessMutation,
    tickets::TicketMutation,
    interactions::InteractionMutation,
    satisfaction::SatisfactionMutation,
    import::ImportMutation,
    reports::ReportMutation,
    improvement::ImprovementMutation,
    retention::RetentionMutation,
    sla::SlaMutation,
);

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The schema's types and limits, without the server's data. Field suggestions ("did you mean
/// ...?") are off: they would spell out the schema to callers that may not introspect it.
pub fn schema_builder(limits: &LimitSettings) -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    let builder = Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot)
        .limit_depth(limits.max_depth as usize)
        .limit_complexity(limits.max_complexity as usize)
        .disable_suggestions();
    if limits.introspection { builder } else { builder.disable_introspection() }
}

/// The schema's SDL, exactly as `deskpulse export-schema` prints it and schema.graphql holds it.
pub fn sdl() -> String {
    schema_builder(&LimitSettings::default()).finish().sdl()
}

/// Attaches what one request's resolvers read: the caller (none for the public survey
/// operation), the request's database handle and its own DataLoaders. `caller_technician` is the
/// record of the technician the caller acts as when the token check read it already: the
/// loaders start with it, so `me.technician` costs no statement.
pub async fn prepare_request(
    request: Request,
    caller: Option<Caller>,
    caller_technician: Option<crate::models::Technician>,
    db: &Db,
) -> Request {
    let loaders = loaders::Loaders::new(db);
    if let Some(technician) = caller_technician {
        loaders.technicians.feed_one(technician.id, technician).await;
    }
    let request = request.data(loaders).data(db.clone());
    match caller {
        Some(caller) => request.data(caller),
        None => request,
    }
}

/// The authenticated caller of the current request.
pub fn caller<'a>(ctx: &Context<'a>) -> Result<&'a Caller, AppError> {
    ctx.data_opt::<Caller>().ok_or_else(|| AppError::Unauthenticated("a bearer token is required".into()))
}

/// The current request's database handle.
pub fn db<'a>(ctx: &Context<'a>) -> Result<&'a Db, AppError> {
    ctx.data_opt::<Db>().ok_or_else(|| AppError::internal("the request has no database attached"))
}

/// A record id from a GraphQL `ID`.
pub fn parse_id(field: &str, id: &ID) -> Result<i64, AppError> {
    id.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        AppError::bad_input(field, format!("{} is not an id", crate::domain::limits::quoted(id.as_str())))
    })
}
