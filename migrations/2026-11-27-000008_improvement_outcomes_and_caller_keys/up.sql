-- An idempotency key belongs to the caller who sent it: two scripts may pick the same key without
-- seeing (or colliding with) each other's actions.
ALTER TABLE improvement_actions DROP CONSTRAINT improvement_actions_idempotency_key;
ALTER TABLE improvement_actions ADD CONSTRAINT improvement_actions_idempotency_key UNIQUE (created_by, idempotency_key);

-- A completed action's outcome, measured once its window has passed and kept from then on, so it
-- stays readable after retention removes the tickets it was measured on.
ALTER TABLE improvement_actions
    ADD COLUMN outcome_value       DOUBLE PRECISION,
    ADD COLUMN outcome_measured_at TIMESTAMPTZ,
    ADD CONSTRAINT improvement_actions_outcome_after_end
        CHECK (outcome_measured_at IS NULL OR (status = 'COMPLETED' AND outcome_measured_at >= ended_at)),
    ADD CONSTRAINT improvement_actions_outcome_measured
        CHECK (outcome_value IS NULL OR outcome_measured_at IS NOT NULL);
