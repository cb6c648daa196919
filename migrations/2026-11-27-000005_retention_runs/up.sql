-- One row per retention run, dry or not, with what it removed (or would remove) per record kind.
CREATE TABLE retention_runs (
    id                         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at                 TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at                TIMESTAMPTZ,
    dry_run                    BOOLEAN     NOT NULL,
    triggered_by               TEXT        NOT NULL CHECK (char_length(triggered_by) BETWEEN 1 AND 200),
    status                     TEXT        NOT NULL DEFAULT 'RUNNING'
                                           CHECK (status IN ('RUNNING', 'COMPLETED', 'FAILED')),
    -- The cut-off instants the run used, so a run can be explained later.
    tickets_closed_before      TIMESTAMPTZ NOT NULL,
    interactions_before        TIMESTAMPTZ NOT NULL,
    reports_generated_before   TIMESTAMPTZ NOT NULL,
    actions_ended_before       TIMESTAMPTZ NOT NULL,
    tickets_removed            BIGINT      NOT NULL DEFAULT 0 CHECK (tickets_removed >= 0),
    ticket_events_removed      BIGINT      NOT NULL DEFAULT 0 CHECK (ticket_events_removed >= 0),
    ratings_removed            BIGINT      NOT NULL DEFAULT 0 CHECK (ratings_removed >= 0),
    interactions_removed       BIGINT      NOT NULL DEFAULT 0 CHECK (interactions_removed >= 0),
    reports_removed            BIGINT      NOT NULL DEFAULT 0 CHECK (reports_removed >= 0),
    improvement_actions_removed BIGINT     NOT NULL DEFAULT 0 CHECK (improvement_actions_removed >= 0),
    error                      TEXT,
    CONSTRAINT retention_runs_finished CHECK ((status = 'RUNNING') = (finished_at IS NULL))
);
CREATE INDEX retention_runs_started_at_idx ON retention_runs (started_at DESC, id DESC);
