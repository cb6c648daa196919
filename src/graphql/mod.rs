//! The GraphQL layer: the schema, its resolvers and the request-scoped data they read.
//!
//! Resolvers check permissions, validate input shape and call store functions; they never build
//! SQL.

mod system;

use async_graphql::{Context, EmptyMutation, EmptySubscription, MergedObject, Schema, SchemaBuilder};

use crate::auth::Caller;
use crate::db::Db;
use crate::error::AppError;

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(system::SystemQuery);

pub type AppSchema = Schema<QueryRoot, EmptyMutation, EmptySubscription>;

/// Deepest selection nesting a query may use.
pub const MAX_DEPTH: usize = 16;
/// Largest total cost of a query, where a list field costs its page size.
pub const MAX_COMPLEXITY: usize = 20_000;

/// The schema's types and limits, without the server's data: `export-schema` prints this.
pub fn schema_builder() -> SchemaBuilder<QueryRoot, EmptyMutation, EmptySubscription> {
    Schema::build(QueryRoot::default(), EmptyMutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
}

/// The schema's SDL, exactly as `deskpulse export-schema` prints it and schema.graphql holds it.
pub fn sdl() -> String {
    schema_builder().finish().sdl()
}

/// The authenticated caller of the current request.
pub fn caller<'a>(ctx: &Context<'a>) -> Result<&'a Caller, AppError> {
    ctx.data_opt::<Caller>().ok_or_else(|| AppError::Unauthenticated("a bearer token is required".into()))
}

/// The database handle the server attached to the schema.
pub fn db<'a>(ctx: &Context<'a>) -> Result<&'a Db, AppError> {
    ctx.data_opt::<Db>().ok_or_else(|| AppError::internal("the schema has no database attached"))
}
