ALTER TABLE improvement_actions
    DROP CONSTRAINT improvement_actions_outcome_measured,
    DROP CONSTRAINT improvement_actions_outcome_after_end,
    DROP COLUMN outcome_measured_at,
    DROP COLUMN outcome_value;
ALTER TABLE improvement_actions DROP CONSTRAINT improvement_actions_idempotency_key;
ALTER TABLE improvement_actions ADD CONSTRAINT improvement_actions_idempotency_key UNIQUE (idempotency_key);
