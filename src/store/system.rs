use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::error::AppError;

define_sql_function! {
    /// PostgreSQL's transaction timestamp.
    fn now() -> diesel::sql_types::Timestamptz;
}

pub fn database_time(conn: &mut PgConnection) -> Result<DateTime<Utc>, AppError> {
    Ok(diesel::select(now()).get_result(conn)?)
}
