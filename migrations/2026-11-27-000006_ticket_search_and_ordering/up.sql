-- Lists ordered by urgency read an index instead of sorting on a CASE expression.
ALTER TABLE tickets ADD COLUMN priority_rank SMALLINT NOT NULL GENERATED ALWAYS AS (
    CASE priority WHEN 'LOW' THEN 0 WHEN 'NORMAL' THEN 1 WHEN 'HIGH' THEN 2 ELSE 3 END
) STORED;
CREATE INDEX tickets_priority_rank_idx ON tickets (priority_rank, id);

-- Substring search (ILIKE '%term%') over ticket text and customer contact details uses trigram
-- indexes. pg_trgm is a trusted extension: the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX tickets_text_search_idx ON tickets USING gin ((subject || ' ' || description) gin_trgm_ops);
CREATE INDEX customers_search_idx ON customers USING gin (
    (name || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '') || ' ' || coalesce(organization, ''))
    gin_trgm_ops
);
