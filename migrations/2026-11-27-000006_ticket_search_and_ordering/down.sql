-- pg_trgm stays installed: other objects of the database may use it.
DROP INDEX customers_search_idx;
DROP INDEX tickets_text_search_idx;
DROP INDEX tickets_priority_rank_idx;
ALTER TABLE tickets DROP COLUMN priority_rank;
