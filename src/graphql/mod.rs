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

pub use direct::{WritesJson, unsplice, write_response};
pub use satisfaction::SurveyTokenTtl;
pub use subscriptions::{LiveExecutor, SubscriptionRoot, connection_data};

use std::sync::{Arc, OnceLock};

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

/// The record of the technician the caller acts as, as the token check reads it (none when the
/// token names no technician that exists).
pub enum CallerTechnician {
    /// Read before the operation runs.
    Read(Option<crate::models::Technician>),
    /// Read by the check that runs with the request's first statements (a query's: see
    /// `Db::gated`): set once `Db::gate_passed` has answered.
    WithFirstStatements(Arc<OnceLock<Option<crate::models::Technician>>>),
}

/// Attaches what one request's resolvers read: the caller (none for the public survey
/// operation), the request's database handle and its own DataLoaders. A caller technician read
/// already starts the loaders, so `me.technician` costs no statement; one still to be read is
/// where `me.technician` finds it (other fields load that technician like any other).
pub async fn prepare_request(
    request: Request,
    caller: Option<Caller>,
    caller_technician: CallerTechnician,
    db: &Db,
) -> Request {
    let loaders = loaders::Loaders::new(db);
    let request = match caller_technician {
        CallerTechnician::Read(technician) => {
            if let Some(technician) = technician {
                loaders.technicians.feed_one(technician.id, technician).await;
            }
            request
        }
        pending @ CallerTechnician::WithFirstStatements(_) => request.data(pending),
    };
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
