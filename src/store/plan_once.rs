//! Statement shapes PostgreSQL can plan once per connection and run from that plan.
//!
//! A prepared statement is planned afresh at every execution for as long as its generic plan
//! (made without the parameters' values) looks dearer than a plan made with them. For a page of
//! tickets that is always: a bound status list cannot be matched to a partial index (such as
//! the open queue's, migration 000020), a bound `LIMIT $n` is assumed to want a tenth of the
//! table, and `column < $1 OR (column = $1 AND id < $2)` is a filter, not a start position in
//! an index. Planning cost about as much as running the page (docs/benchmarks.md, "Ticket pages
//! planned once"). The shapes here write closed values into the statement's text and spell the
//! keyset condition as a row comparison; unlike `diesel::dsl::sql`, they leave the statement
//! in diesel's statement cache, whose key for these queries is the SQL text.
//!
//! For the same reason a look-up by a primary or unique key is read with `get_result`, never
//! `first`, which adds a bound `LIMIT`.

use std::marker::PhantomData;

use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{Array, BigInt, Bool, HasSqlType};
use diesel::{PgConnection, QueryResult, RunQueryDsl};

/// `column IN ('A', 'B')` with the texts of a closed enumeration written into the statement.
/// Sorted and deduplicated, so that one set of values is always one statement: at most 2^n
/// statements for an enumeration of n values.
pub fn one_of<T: Copy + Ord>(column: &'static str, values: &[T], text: fn(T) -> &'static str) -> FixedSql {
    let mut values = values.to_vec();
    values.sort_unstable();
    values.dedup();
    let texts: Vec<String> = values
        .into_iter()
        .map(|value| {
            let text = text(value);
            // The enumeration's own constants: nothing in them needs quoting.
            assert!(text.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'), "not an enumeration text: {text:?}");
            format!("'{text}'")
        })
        .collect();
    FixedSql(format!("{column} IN ({})", texts.join(", ")))
}

/// A condition or an ordering whose text holds no caller's value (see [`one_of`]).
#[derive(Debug, Clone)]
pub struct FixedSql(String);

impl FixedSql {
    /// `sql` must be written by the program, never hold a caller's text: the store's own
    /// statements only.
    pub(super) fn new(sql: String) -> FixedSql {
        FixedSql(sql)
    }
}

impl Expression for FixedSql {
    type SqlType = Bool;
}

impl QueryFragment<Pg> for FixedSql {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(&self.0);
        Ok(())
    }
}

/// The cache key must be the SQL text, never one statement for every text.
impl QueryId for FixedSql {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<QS> SelectableExpression<QS> for FixedSql {}
impl<QS> AppearsOnTable<QS> for FixedSql {}
impl<GroupBy> ValidGrouping<GroupBy> for FixedSql {
    type IsAggregate = is_aggregate::Never;
}

/// `(column, tickets.id) > (key, id)` (or `<` when descending): the tickets after a cursor in the
/// order `(column, id)`. PostgreSQL takes a row comparison as a start position in a `(column, id)`
/// index, in a generic plan too. For columns without NULLs only: a row comparison with a NULL
/// is NULL.
pub struct RowsAfter<ST, K> {
    column: &'static str,
    key: K,
    id: i64,
    descending: bool,
    key_type: PhantomData<ST>,
}

impl<ST, K> RowsAfter<ST, K> {
    pub fn new(column: &'static str, key: K, id: i64, descending: bool) -> RowsAfter<ST, K> {
        RowsAfter { column, key, id, descending, key_type: PhantomData }
    }
}

impl<ST, K> Expression for RowsAfter<ST, K> {
    type SqlType = Bool;
}

impl<ST, K> QueryFragment<Pg> for RowsAfter<ST, K>
where
    Pg: HasSqlType<ST>,
    K: ToSql<ST, Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("(");
        out.push_sql(self.column);
        out.push_sql(if self.descending { ", tickets.id) < (" } else { ", tickets.id) > (" });
        out.push_bind_param::<ST, K>(&self.key)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, i64>(&self.id)?;
        out.push_sql(")");
        Ok(())
    }
}

impl<ST, K> QueryId for RowsAfter<ST, K> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST, K, QS> SelectableExpression<QS> for RowsAfter<ST, K> {}
impl<ST, K, QS> AppearsOnTable<QS> for RowsAfter<ST, K> {}
impl<ST, K, GroupBy> ValidGrouping<GroupBy> for RowsAfter<ST, K> {
    type IsAggregate = is_aggregate::Never;
}

/// A query with its row limit written into the statement ([`RowLimit`]); its caller keeps the
/// first [`LiteralLimit::wanted`] rows.
pub struct LiteralLimit<Q> {
    query: Q,
    limit: RowLimit,
}

/// How many rows a statement fetches, and how many of them its caller wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowLimit {
    wanted: i64,
    rows: i64,
}

impl RowLimit {
    const PAGE_SIZES: [i64; 4] = [26, 51, 76, 101];

    /// `wanted` rows, fetched with the next of a few sizes up, so that the page sizes frontends
    /// ask for make a handful of statements, not one per size.
    pub fn page(wanted: i64) -> RowLimit {
        let rows = Self::PAGE_SIZES.into_iter().find(|&size| size >= wanted).unwrap_or(wanted).max(0);
        RowLimit { wanted, rows }
    }

    /// The one row of a look-up by a unique key (`LIMIT 1`, written, not bound).
    pub fn one() -> RowLimit {
        RowLimit { wanted: 1, rows: 1 }
    }
}

impl<Q> LiteralLimit<Q> {
    pub fn new(query: Q, limit: RowLimit) -> LiteralLimit<Q> {
        LiteralLimit { query, limit }
    }

    /// How many of the rows fetched the caller wants.
    pub fn wanted(&self) -> usize {
        usize::try_from(self.limit.wanted).unwrap_or(0)
    }

    /// The same limit on `f(query)`.
    pub fn map<R>(self, f: impl FnOnce(Q) -> R) -> LiteralLimit<R> {
        LiteralLimit { query: f(self.query), limit: self.limit }
    }
}

impl<Q: Query> Query for LiteralLimit<Q> {
    type SqlType = Q::SqlType;
}

impl<Q> QueryId for LiteralLimit<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> RunQueryDsl<PgConnection> for LiteralLimit<Q> {}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for LiteralLimit<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        out.push_sql(&format!(" LIMIT {}", self.limit.rows));
        Ok(())
    }
}

/// `column = ANY($1)` for a batch of keys, `column = $1` for a single one. A view of one ticket
/// asks for batches of one, and PostgreSQL costs `= ANY($1)`'s generic plan for a list of ten
/// keys, dearer than a plan for one plus its planning: it would plan the statement afresh at
/// every execution. Two statements, each planned once.
pub fn key_in<C: Expression<SqlType = BigInt>>(column: C, keys: &[i64]) -> KeyIn<C> {
    KeyIn { column, keys: keys.to_vec() }
}

pub struct KeyIn<C> {
    column: C,
    keys: Vec<i64>,
}

impl<C> Expression for KeyIn<C> {
    type SqlType = Bool;
}

impl<C: QueryFragment<Pg>> QueryFragment<Pg> for KeyIn<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.column.walk_ast(out.reborrow())?;
        if let [key] = self.keys.as_slice() {
            out.push_sql(" = ");
            out.push_bind_param::<BigInt, i64>(key)
        } else {
            out.push_sql(" = ANY(");
            out.push_bind_param::<Array<BigInt>, Vec<i64>>(&self.keys)?;
            out.push_sql(")");
            Ok(())
        }
    }
}

impl<C> QueryId for KeyIn<C> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<C: SelectableExpression<QS>, QS> SelectableExpression<QS> for KeyIn<C> {}
impl<C: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for KeyIn<C> {}
impl<C: ValidGrouping<GroupBy>, GroupBy> ValidGrouping<GroupBy> for KeyIn<C> {
    type IsAggregate = C::IsAggregate;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TicketStatus;

    #[test]
    fn a_set_of_values_is_one_statement_whatever_its_order_or_repeats() {
        let sql = |values: &[TicketStatus]| one_of("tickets.status", values, TicketStatus::as_str).0;
        let open = [TicketStatus::InProgress, TicketStatus::Open, TicketStatus::InProgress];
        assert_eq!(sql(&open), sql(&[TicketStatus::Open, TicketStatus::InProgress]));
        assert_eq!(sql(&[TicketStatus::Open]), "tickets.status IN ('OPEN')");
    }

    #[test]
    fn a_page_is_fetched_with_the_next_size_up() {
        let rows = |wanted| RowLimit::page(wanted).rows;
        assert_eq!([rows(1), rows(21), rows(26), rows(27), rows(101), rows(150)], [26, 26, 26, 51, 101, 150]);
    }
}
