use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::contains_pattern;
use super::plan_once::key_in;
use crate::error::AppError;
use crate::models::{Customer, NewCustomer};
use crate::schema::customers;

pub fn create(conn: &mut PgConnection, new: &NewCustomer) -> Result<Customer, AppError> {
    Ok(diesel::insert_into(customers::table).values(new).returning(Customer::as_returning()).get_result(conn)?)
}

/// Changes the fields that are `Some`; `Some(None)` clears an optional one.
pub struct CustomerChanges {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub organization: Option<Option<String>>,
}

pub fn update(
    conn: &mut PgConnection,
    id: i64,
    changes: CustomerChanges,
    now: DateTime<Utc>,
) -> Result<Customer, AppError> {
    conn.transaction(|conn| {
        let current = find(conn, id)?;
        Ok(diesel::update(customers::table.find(id))
            .set((
                customers::name.eq(changes.name.unwrap_or(current.name)),
                customers::email.eq(changes.email.unwrap_or(current.email)),
                customers::phone.eq(changes.phone.unwrap_or(current.phone)),
                customers::organization.eq(changes.organization.unwrap_or(current.organization)),
                customers::updated_at.eq(now),
            ))
            .returning(Customer::as_returning())
            .get_result(conn)?)
    })
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<Customer, AppError> {
    customers::table
        .find(id)
        .select(Customer::as_select())
        .get_result(conn)
        .optional()?
        .ok_or_else(|| AppError::NotFound(format!("customer {id} does not exist")))
}

pub fn by_ids(conn: &mut PgConnection, ids: &[i64]) -> Result<HashMap<i64, Customer>, AppError> {
    let rows =
        customers::table.filter(key_in(customers::id, ids)).select(Customer::as_select()).load::<Customer>(conn)?;
    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
}

/// Where a page of customers starts: after this (name, id).
pub struct CustomerCursor {
    pub name: String,
    pub id: i64,
}

/// Customers whose name, e-mail, phone or organization contains `search` (case-insensitive),
/// ordered by name then id; `limit` rows after `after`.
pub fn search(
    conn: &mut PgConnection,
    search: Option<&str>,
    after: Option<&CustomerCursor>,
    limit: i64,
) -> Result<Vec<Customer>, AppError> {
    let mut query = filtered(search).select(Customer::as_select());
    if let Some(cursor) = after {
        query = query.filter(
            customers::name
                .gt(cursor.name.clone())
                .or(customers::name.eq(cursor.name.clone()).and(customers::id.gt(cursor.id))),
        );
    }
    Ok(query.order((customers::name.asc(), customers::id.asc())).limit(limit).load(conn)?)
}

pub fn count(conn: &mut PgConnection, search: Option<&str>) -> Result<i64, AppError> {
    Ok(filtered(search).count().get_result(conn)?)
}

fn filtered(search: Option<&str>) -> customers::BoxedQuery<'static, diesel::pg::Pg> {
    let mut query = customers::table.into_boxed();
    if let Some(search) = search {
        // The same expression as the trigram index customers_search_idx.
        query = query.filter(
            diesel::dsl::sql::<Bool>(
                "(customers.name || ' ' || coalesce(customers.email, '') || ' ' || coalesce(customers.phone, '') \
                 || ' ' || coalesce(customers.organization, '')) ILIKE ",
            )
            .bind::<Text, _>(contains_pattern(search)),
        );
    }
    query
}
