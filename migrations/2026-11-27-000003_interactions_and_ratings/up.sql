-- The customer interaction log. An entry is never edited: a correction is a new entry that names
-- the one it corrects.
CREATE TABLE interactions (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id       BIGINT      NOT NULL REFERENCES customers (id),
    ticket_id         BIGINT      REFERENCES tickets (id) ON DELETE CASCADE,
    technician_id     BIGINT      REFERENCES technicians (id),
    channel           TEXT        NOT NULL CHECK (channel IN ('CALL', 'EMAIL', 'CHAT')),
    direction         TEXT        NOT NULL CHECK (direction IN ('INBOUND', 'OUTBOUND')),
    occurred_at       TIMESTAMPTZ NOT NULL,
    duration_seconds  INTEGER     CHECK (duration_seconds >= 0),
    summary           TEXT        NOT NULL CHECK (char_length(btrim(summary)) BETWEEN 1 AND 20000),
    corrects_id       BIGINT      REFERENCES interactions (id) ON DELETE SET NULL,
    logged_by         TEXT        NOT NULL CHECK (char_length(logged_by) BETWEEN 1 AND 200),
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT interactions_call_has_duration CHECK (channel <> 'CALL' OR duration_seconds IS NOT NULL)
);
CREATE INDEX interactions_customer_idx ON interactions (customer_id, occurred_at, id);
CREATE INDEX interactions_ticket_idx ON interactions (ticket_id, occurred_at, id) WHERE ticket_id IS NOT NULL;
CREATE INDEX interactions_occurred_at_idx ON interactions (occurred_at, id);
CREATE INDEX interactions_technician_idx ON interactions (technician_id, occurred_at);
CREATE INDEX interactions_corrects_idx ON interactions (corrects_id) WHERE corrects_id IS NOT NULL;

-- Only the removal of a corrected entry may touch a row: its corrects_id is then set to NULL.
CREATE FUNCTION interactions_refuse_edit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    unchanged interactions;
BEGIN
    unchanged := NEW;
    unchanged.corrects_id := OLD.corrects_id;
    IF unchanged IS DISTINCT FROM OLD OR NEW.corrects_id IS NOT NULL THEN
        RAISE EXCEPTION 'interactions are never edited; log a correction instead'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER interactions_append_only BEFORE UPDATE ON interactions
    FOR EACH ROW EXECUTE FUNCTION interactions_refuse_edit();

-- Satisfaction ratings keep their history: a new rating supersedes the current one, and only one
-- rating per ticket is current at a time.
CREATE TABLE satisfaction_ratings (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id      BIGINT      NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    rating         SMALLINT    NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment        TEXT        CHECK (char_length(comment) <= 5000),
    source         TEXT        NOT NULL CHECK (source IN ('STAFF', 'SURVEY', 'IMPORT')),
    submitted_by   TEXT        NOT NULL CHECK (char_length(submitted_by) BETWEEN 1 AND 200),
    submitted_at   TIMESTAMPTZ NOT NULL,
    superseded_at  TIMESTAMPTZ,
    CONSTRAINT satisfaction_ratings_superseded_after CHECK (superseded_at >= submitted_at)
);
CREATE UNIQUE INDEX satisfaction_ratings_current_key ON satisfaction_ratings (ticket_id)
    WHERE superseded_at IS NULL;
CREATE INDEX satisfaction_ratings_ticket_idx ON satisfaction_ratings (ticket_id, submitted_at);
CREATE INDEX satisfaction_ratings_submitted_at_idx ON satisfaction_ratings (submitted_at)
    WHERE superseded_at IS NULL;
