//! What fields cost toward the complexity limit. A plain field costs 1 plus its selection; the
//! functions here price the fields whose work grows with an argument: a list costs its page size
//! times one item's selection, a KPI field the aggregation statements it runs.

use crate::domain::limits::{IMPORT_BATCH_MAX, PAGE_MAX};

/// The page size a list field returns when `first` is absent.
pub const DEFAULT_PAGE: i32 = 20;

/// The length assumed for lists without a page size (a ticket's timeline, the technicians).
pub const UNPAGED_LIST_ESTIMATE: usize = 20;

/// One KPI aggregation statement: it reads many rows, so it weighs like a large page.
pub const KPI_STATEMENT: usize = 1_000;

/// A paginated list: `first` items (bounded to what a page may hold, so that an out-of-range
/// `first` reaches its resolver and gets a precise error) times one item's selection.
pub fn page(first: Option<i32>, child_complexity: usize) -> usize {
    let size = first.unwrap_or(DEFAULT_PAGE).clamp(1, PAGE_MAX);
    usize::try_from(size).unwrap_or(1).saturating_mul(child_complexity)
}

/// A list without a page size.
pub fn unpaged(child_complexity: usize) -> usize {
    UNPAGED_LIST_ESTIMATE.saturating_mul(child_complexity)
}

/// A list of at most `limit` items (bounded as its resolver bounds it).
pub fn limited(limit: i32, max: i32, child_complexity: usize) -> usize {
    usize::try_from(limit.clamp(1, max)).unwrap_or(1).saturating_mul(child_complexity)
}

/// A field that runs `statements` KPI aggregations and returns `items` results.
pub fn kpi(statements: usize, items: usize, child_complexity: usize) -> usize {
    KPI_STATEMENT.saturating_mul(statements).saturating_add(items.saturating_mul(child_complexity))
}

/// An import batch: its result lists each ticket.
pub fn import(batch: usize, child_complexity: usize) -> usize {
    batch.clamp(1, IMPORT_BATCH_MAX).saturating_mul(child_complexity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_costs_its_size_times_its_items() {
        assert_eq!(page(Some(50), 7), 350);
        assert_eq!(page(None, 7), 140);
        // Out of range: priced as the nearest valid page; the resolver refuses it.
        assert_eq!(page(Some(1_000_000_000), 7), 700);
        assert_eq!(page(Some(-5), 7), 7);
        assert_eq!(kpi(2, 1, 30), 2_030);
        assert_eq!(import(1_000_000, 2), 2_000);
    }
}
