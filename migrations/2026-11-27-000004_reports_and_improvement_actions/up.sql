-- A generated performance report is an immutable snapshot; generating a period again stores a
-- new version beside the old one.
CREATE TABLE performance_reports (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          TEXT        NOT NULL CHECK (kind IN ('WEEK', 'MONTH')),
    period_start  TIMESTAMPTZ NOT NULL,
    period_end    TIMESTAMPTZ NOT NULL,
    time_zone     TEXT        NOT NULL CHECK (char_length(time_zone) BETWEEN 1 AND 64),
    version       INTEGER     NOT NULL CHECK (version >= 1),
    generated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    generated_by  TEXT        NOT NULL CHECK (char_length(generated_by) BETWEEN 1 AND 200),
    -- SCHEDULED reports are made at most once per period (see the unique index below).
    trigger       TEXT        NOT NULL CHECK (trigger IN ('ON_DEMAND', 'SCHEDULED')),
    snapshot      JSONB       NOT NULL,
    CONSTRAINT performance_reports_period_order CHECK (period_end > period_start),
    CONSTRAINT performance_reports_version_key UNIQUE (kind, period_start, time_zone, version)
);
CREATE UNIQUE INDEX performance_reports_scheduled_once ON performance_reports (kind, period_start, time_zone)
    WHERE trigger = 'SCHEDULED';
CREATE INDEX performance_reports_generated_at_idx ON performance_reports (generated_at);
CREATE INDEX performance_reports_period_idx ON performance_reports (period_start DESC, id DESC);

CREATE TRIGGER performance_reports_immutable BEFORE UPDATE ON performance_reports
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

CREATE TABLE improvement_actions (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title             TEXT        NOT NULL CHECK (char_length(btrim(title)) BETWEEN 1 AND 200),
    description       TEXT        NOT NULL DEFAULT '' CHECK (char_length(description) <= 20000),
    kind              TEXT        NOT NULL CHECK (kind IN ('TRAINING', 'PROCESS', 'TOOLING', 'OTHER')),
    target_metric     TEXT        NOT NULL CHECK (target_metric IN (
                          'TICKETS_OPENED', 'TICKETS_RESOLVED', 'TICKETS_CLOSED', 'BACKLOG',
                          'FIRST_RESPONSE_SECONDS_MEAN', 'FIRST_RESPONSE_SECONDS_MEDIAN', 'FIRST_RESPONSE_SECONDS_P90',
                          'AWAITING_FIRST_RESPONSE',
                          'RESOLUTION_SECONDS_MEAN', 'RESOLUTION_SECONDS_MEDIAN', 'RESOLUTION_SECONDS_P90',
                          'FIRST_RESOLUTION_SECONDS_MEAN', 'FIRST_RESOLUTION_SECONDS_MEDIAN', 'FIRST_RESOLUTION_SECONDS_P90',
                          'RESOLUTION_RATE', 'REOPEN_RATE',
                          'CSAT_AVERAGE', 'CSAT_COUNT', 'CSAT_SATISFIED_SHARE', 'INTERACTIONS')),
    target_value      DOUBLE PRECISION NOT NULL,
    baseline_value    DOUBLE PRECISION,
    baseline_from     TIMESTAMPTZ NOT NULL,
    baseline_to       TIMESTAMPTZ NOT NULL,
    owner             TEXT        NOT NULL CHECK (char_length(btrim(owner)) BETWEEN 1 AND 200),
    due_date          DATE,
    status            TEXT        NOT NULL DEFAULT 'PROPOSED'
                                  CHECK (status IN ('PROPOSED', 'IN_PROGRESS', 'COMPLETED', 'ABANDONED')),
    outcome_notes     TEXT        CHECK (char_length(outcome_notes) <= 20000),
    source_report_id  BIGINT      REFERENCES performance_reports (id) ON DELETE SET NULL,
    idempotency_key   TEXT        CHECK (char_length(idempotency_key) BETWEEN 1 AND 200),
    -- A fingerprint of the filing's payload: a reused key with another payload is a conflict.
    request_hash      TEXT        NOT NULL,
    created_by        TEXT        NOT NULL CHECK (char_length(created_by) BETWEEN 1 AND 200),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- When the action was completed or abandoned: retention counts from here.
    ended_at          TIMESTAMPTZ,
    version           INTEGER     NOT NULL DEFAULT 1 CHECK (version >= 1),
    CONSTRAINT improvement_actions_idempotency_key UNIQUE (idempotency_key),
    CONSTRAINT improvement_actions_baseline_order CHECK (baseline_to > baseline_from),
    CONSTRAINT improvement_actions_ended CHECK ((status IN ('COMPLETED', 'ABANDONED')) = (ended_at IS NOT NULL))
);
CREATE INDEX improvement_actions_status_idx ON improvement_actions (status, id);
CREATE INDEX improvement_actions_metric_idx ON improvement_actions (target_metric, id);
CREATE INDEX improvement_actions_owner_idx ON improvement_actions (owner, id);
CREATE INDEX improvement_actions_ended_at_idx ON improvement_actions (ended_at) WHERE ended_at IS NOT NULL;

-- Every change to an improvement action, with its actor and time.
CREATE TABLE improvement_action_changes (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action_id   BIGINT      NOT NULL REFERENCES improvement_actions (id) ON DELETE CASCADE,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor       TEXT        NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 200),
    field       TEXT        NOT NULL CHECK (char_length(field) BETWEEN 1 AND 64),
    from_value  TEXT,
    to_value    TEXT
);
CREATE INDEX improvement_action_changes_action_idx ON improvement_action_changes (action_id, at, id);
CREATE TRIGGER improvement_action_changes_append_only BEFORE UPDATE ON improvement_action_changes
    FOR EACH ROW EXECUTE FUNCTION refuse_update();
