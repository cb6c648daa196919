DROP TRIGGER kpi_fact_blocks_generation ON kpi_fact_blocks;
DROP FUNCTION kpi_fact_block_new_generation();
ALTER TABLE kpi_fact_blocks DROP COLUMN generation;
DROP SEQUENCE kpi_fact_block_generations;
