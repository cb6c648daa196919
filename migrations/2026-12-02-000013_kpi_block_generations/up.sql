-- Every version of a sealed block gets a number of its own, so that a server may keep a block it
-- has read in memory and reuse it for as long as the block's row still carries that number
-- (src/store/kpi_block_cache.rs). The number comes from a sequence: it never repeats within a
-- database, whatever writes the row (the sealer, a repair, an UPDATE by hand).
CREATE SEQUENCE kpi_fact_block_generations;
ALTER TABLE kpi_fact_blocks
    ADD COLUMN generation BIGINT NOT NULL DEFAULT nextval('kpi_fact_block_generations');

CREATE FUNCTION kpi_fact_block_new_generation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.generation := nextval('kpi_fact_block_generations');
    RETURN NEW;
END
$$;
CREATE TRIGGER kpi_fact_blocks_generation BEFORE UPDATE ON kpi_fact_blocks
    FOR EACH ROW EXECUTE FUNCTION kpi_fact_block_new_generation();
