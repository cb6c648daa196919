-- Human ticket numbers: TS-000001 ... TS-999999, then TS-1000000 and on. A sequence hands them out,
-- so concurrent inserts never share a number; a rolled-back insert leaves a gap, which is fine.
CREATE SEQUENCE ticket_number_seq AS BIGINT START 1;

CREATE FUNCTION next_ticket_number() RETURNS TEXT
LANGUAGE sql VOLATILE AS $$
    SELECT 'TS-' || CASE WHEN n < 1000000 THEN lpad(n::text, 6, '0') ELSE n::text END
    FROM (SELECT nextval('ticket_number_seq') AS n) AS next
$$;

CREATE TABLE tickets (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number             TEXT        NOT NULL DEFAULT next_ticket_number(),
    customer_id        BIGINT      NOT NULL REFERENCES customers (id),
    subject            TEXT        NOT NULL CHECK (char_length(btrim(subject)) BETWEEN 1 AND 200),
    description        TEXT        NOT NULL DEFAULT '' CHECK (char_length(description) <= 20000),
    category           TEXT        NOT NULL CHECK (char_length(btrim(category)) BETWEEN 1 AND 64),
    priority           TEXT        NOT NULL CHECK (priority IN ('LOW', 'NORMAL', 'HIGH', 'URGENT')),
    channel            TEXT        NOT NULL CHECK (channel IN ('PHONE', 'EMAIL', 'CHAT', 'WEB')),
    status             TEXT        NOT NULL DEFAULT 'OPEN'
                                   CHECK (status IN ('OPEN', 'IN_PROGRESS', 'RESOLVED', 'CLOSED')),
    assignee_id        BIGINT      REFERENCES technicians (id),
    opened_at          TIMESTAMPTZ NOT NULL,
    first_response_at  TIMESTAMPTZ,
    first_resolved_at  TIMESTAMPTZ,
    resolved_at        TIMESTAMPTZ,
    closed_at          TIMESTAMPTZ,
    reopen_count       INTEGER     NOT NULL DEFAULT 0 CHECK (reopen_count >= 0),
    version            INTEGER     NOT NULL DEFAULT 1 CHECK (version >= 1),
    -- Set by history imports: re-sending an imported ticket is recognised by it.
    external_ref       TEXT        CHECK (external_ref IS NULL OR char_length(external_ref) BETWEEN 1 AND 200),
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT tickets_number_key UNIQUE (number),
    CONSTRAINT tickets_external_ref_key UNIQUE (external_ref),
    -- The timestamps tell the same story as the status.
    CONSTRAINT tickets_first_response_after_open CHECK (first_response_at >= opened_at),
    CONSTRAINT tickets_first_resolution_after_open CHECK (first_resolved_at >= opened_at),
    CONSTRAINT tickets_resolution_after_first CHECK (resolved_at >= first_resolved_at),
    CONSTRAINT tickets_closed_after_resolved CHECK (closed_at >= resolved_at),
    CONSTRAINT tickets_resolved_has_first CHECK (resolved_at IS NULL OR first_resolved_at IS NOT NULL),
    CONSTRAINT tickets_reopen_needs_resolution CHECK (reopen_count = 0 OR first_resolved_at IS NOT NULL),
    CONSTRAINT tickets_status_matches_timestamps CHECK (
        CASE status
            WHEN 'OPEN'        THEN resolved_at IS NULL AND closed_at IS NULL
            WHEN 'IN_PROGRESS' THEN resolved_at IS NULL AND closed_at IS NULL
            WHEN 'RESOLVED'    THEN resolved_at IS NOT NULL AND closed_at IS NULL
            WHEN 'CLOSED'      THEN resolved_at IS NOT NULL AND closed_at IS NOT NULL
        END
    )
);
CREATE INDEX tickets_status_idx ON tickets (status);
CREATE INDEX tickets_assignee_idx ON tickets (assignee_id);
CREATE INDEX tickets_customer_idx ON tickets (customer_id, opened_at);
CREATE INDEX tickets_opened_at_idx ON tickets (opened_at, id);
CREATE INDEX tickets_resolved_at_idx ON tickets (resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX tickets_closed_at_idx ON tickets (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX tickets_updated_at_idx ON tickets (updated_at, id);

-- The append-only audit trail of a ticket. Rows are never updated; retention removes them with
-- their ticket.
CREATE TABLE ticket_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id   BIGINT      NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT        NOT NULL CHECK (char_length(actor) BETWEEN 1 AND 200),
    kind        TEXT        NOT NULL CHECK (kind IN ('CREATED', 'ASSIGNED', 'STATUS_CHANGED', 'REOPENED',
                                                     'PRIORITY_CHANGED', 'NOTE_ADDED', 'RATED')),
    from_value  TEXT        CHECK (char_length(from_value) <= 200),
    to_value    TEXT        CHECK (char_length(to_value) <= 200),
    note        TEXT        CHECK (char_length(note) <= 20000)
);
CREATE INDEX ticket_events_ticket_idx ON ticket_events (ticket_id, at, id);

CREATE FUNCTION refuse_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER ticket_events_append_only BEFORE UPDATE ON ticket_events
    FOR EACH ROW EXECUTE FUNCTION refuse_update();
