-- Back to the table constraints of migrations 000002 and 000015.
-- The view and the two triggers that name these columns, kept as they are now and recreated
-- from that text after the change.
CREATE TEMPORARY TABLE kept_definitions AS
SELECT 'CREATE VIEW kpi_ticket_fact_source AS ' || pg_get_viewdef('kpi_ticket_fact_source'::regclass) AS statement
UNION ALL
SELECT pg_get_triggerdef(oid) FROM pg_trigger
WHERE tgname IN ('kpi_facts_tickets_update', 'kpi_facts_ticket_events_insert') AND NOT tgisinternal;
DROP TRIGGER kpi_facts_tickets_update ON tickets;
DROP TRIGGER kpi_facts_ticket_events_insert ON ticket_events;
DROP VIEW kpi_ticket_fact_source;

ALTER TABLE tickets
    DROP CONSTRAINT tickets_status_matches_timestamps,
    ALTER COLUMN category TYPE TEXT,
    ALTER COLUMN status TYPE TEXT,
    ALTER COLUMN channel TYPE TEXT,
    ALTER COLUMN external_ref TYPE TEXT,
    ALTER COLUMN reopen_count TYPE INTEGER,
    ALTER COLUMN version TYPE INTEGER,
    ADD CONSTRAINT tickets_category_check CHECK (char_length(btrim(category)) >= 1 AND char_length(btrim(category)) <= 64),
    ADD CONSTRAINT tickets_status_check CHECK (status IN ('OPEN', 'IN_PROGRESS', 'RESOLVED', 'CLOSED')),
    ADD CONSTRAINT tickets_channel_check CHECK (channel IN ('PHONE', 'EMAIL', 'CHAT', 'WEB')),
    ADD CONSTRAINT tickets_external_ref_check
        CHECK (external_ref IS NULL OR (char_length(external_ref) >= 1 AND char_length(external_ref) <= 200)),
    ADD CONSTRAINT tickets_reopen_count_check CHECK (reopen_count >= 0),
    ADD CONSTRAINT tickets_version_check CHECK (version >= 1),
    ADD CONSTRAINT tickets_status_matches_timestamps CHECK (CASE status
        WHEN 'OPEN' THEN resolved_at IS NULL AND closed_at IS NULL
        WHEN 'IN_PROGRESS' THEN resolved_at IS NULL AND closed_at IS NULL
        WHEN 'RESOLVED' THEN resolved_at IS NOT NULL AND closed_at IS NULL
        WHEN 'CLOSED' THEN resolved_at IS NOT NULL AND closed_at IS NOT NULL
    END);
ALTER TABLE ticket_events
    ALTER COLUMN actor TYPE TEXT,
    ALTER COLUMN kind TYPE TEXT,
    ALTER COLUMN from_value TYPE TEXT,
    ALTER COLUMN to_value TYPE TEXT,
    ALTER COLUMN note TYPE TEXT,
    ADD CONSTRAINT ticket_events_actor_check CHECK (char_length(actor) >= 1 AND char_length(actor) <= 200),
    ADD CONSTRAINT ticket_events_kind_check
        CHECK (kind IN ('CREATED', 'ASSIGNED', 'STATUS_CHANGED', 'REOPENED', 'PRIORITY_CHANGED', 'NOTE_ADDED',
                        'RATED', 'SLA_APPLIED', 'SLA_BREACHED')),
    ADD CONSTRAINT ticket_events_from_value_check CHECK (char_length(from_value) <= 200),
    ADD CONSTRAINT ticket_events_to_value_check CHECK (char_length(to_value) <= 200),
    ADD CONSTRAINT ticket_events_note_check CHECK (char_length(note) <= 20000);

DROP DOMAIN ticket_category;
DROP DOMAIN ticket_status;
DROP DOMAIN ticket_channel;
DROP DOMAIN ticket_external_ref;
DROP DOMAIN ticket_reopen_count;
DROP DOMAIN ticket_version;
DROP DOMAIN ticket_event_actor;
DROP DOMAIN ticket_event_kind;
DROP DOMAIN ticket_event_value;
DROP DOMAIN ticket_event_note;

DO $$
DECLARE
    definition TEXT;
BEGIN
    FOR definition IN SELECT statement FROM kept_definitions LOOP
        EXECUTE definition;
    END LOOP;
END
$$;
DROP TABLE kept_definitions;
