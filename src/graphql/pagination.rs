//! What every cursor-paginated list shares: opaque cursors and a lazily counted `totalCount`.

use std::sync::Arc;

use async_graphql::connection::{CursorType, OpaqueCursor};
use async_graphql::{Context, Object};
use diesel::PgConnection;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::db;
use crate::error::AppError;

type CountQuery = Arc<dyn Fn(&mut PgConnection) -> Result<i64, AppError> + Send + Sync>;

/// The `totalCount` of a connection: counted only when a query selects it.
pub struct TotalCount {
    count: CountQuery,
}

impl TotalCount {
    pub fn new(count: impl Fn(&mut PgConnection) -> Result<i64, AppError> + Send + Sync + 'static) -> TotalCount {
        TotalCount { count: Arc::new(count) }
    }
}

#[Object]
impl TotalCount {
    /// How many items match the filter, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64, AppError> {
        let count = self.count.clone();
        db(ctx)?.run(move |conn| count(conn)).await
    }
}

pub fn encode_cursor<T: Serialize + DeserializeOwned + Send + Sync>(position: T) -> String {
    OpaqueCursor(position).encode_cursor()
}

/// Decodes an `after` argument, refusing anything this list did not hand out.
pub fn decode_cursor<T: Serialize + DeserializeOwned + Send + Sync>(
    field: &str,
    cursor: Option<&str>,
) -> Result<Option<T>, AppError> {
    cursor
        .map(|cursor| {
            OpaqueCursor::<T>::decode_cursor(cursor)
                .map(|decoded| decoded.0)
                .map_err(|_| AppError::bad_input(field, "not a cursor of this list"))
        })
        .transpose()
}

/// Cuts a page fetched with one row more than `limit` back to `limit` rows and tells whether a
/// next page exists.
pub fn trim_page<T>(rows: &mut Vec<T>, limit: i64) -> bool {
    let has_next = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    has_next
}
