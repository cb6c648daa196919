-- The part of the team an action targets, as KPI filters (technicianIds, teams, categories,
-- priorities, channels; empty means everyone): its baseline and outcome are measured over it.
ALTER TABLE improvement_actions
    ADD COLUMN scope JSONB NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(scope) = 'object');
