//! The GraphQL layer: the schema, its resolvers and the request-scoped data they read.
//!
//! Resolvers check permissions, validate input shape and call store functions; they never build
//! SQL.

mod import;
mod interactions;
mod kpis;
mod loaders;
mod pagination;
mod retention;
mod satisfaction;
mod staff;
mod system;
mod tickets;

pub use satisfaction::SurveyTokenTtl;

use async_graphql::{Context, EmptySubscription, ID, MergedObject, Request, Schema, SchemaBuilder};

use crate::auth::Caller;
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
    retention::RetentionQuery,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    staff::StaffMutation,
    tickets::TicketMutation,
    interactions::InteractionMutation,
    satisfaction::SatisfactionMutation,
    import::ImportMutation,
    retention::RetentionMutation,
);

pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Deepest selection nesting a query may use.
pub const MAX_DEPTH: usize = 16;
/// Largest total cost of a query, where a list field costs its page size.
pub const MAX_COMPLEXITY: usize = 20_000;

/// The schema's types and limits, without the server's data: `export-schema` prints this.
pub fn schema_builder() -> SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(QueryRoot::default(), MutationRoot::default(), EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
}

/// The schema's SDL, exactly as `deskpulse export-schema` prints it and schema.graphql holds it.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

/// Attaches what one request's resolvers read: the caller (none for the public survey
/// operation), the request's database handle and its own DataLoaders.
pub fn prepare_request(request: Request, caller: Option<Caller>, db: &Db) -> Request {
    let request = request.data(loaders::Loaders::new(db)).data(db.clone());
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
    id.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| AppError::bad_input(field, format!("{:?} is not an id", id.as_str())))
}
