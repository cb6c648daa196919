-- The single-column rules of tickets and ticket_events as domains (docs/benchmarks.md, "Checks
-- the write path parses").
--
-- PostgreSQL reads a table's CHECK constraints from their stored text and plans them again at
-- every INSERT and UPDATE that statement runs (execMain.c, ExecRelCheck): for these two tables
-- 19 KB of node text per write, 14 % of a backend's CPU under the ticket write benchmark. A
-- domain's checks are read and planned once per connection (the type cache), so the same rules
-- cost an expression evaluation. Values, rules and constraint names are the ones the tables had
-- (from_value and to_value share ticket_events_value_check); the rules that join columns stay
-- table constraints, and the status/timestamps rule is
-- written shorter (the same condition given the status domain).
--
-- The columns change type without a rewrite: a domain without constraints is binary-coercible,
-- so the domains get their checks after the change, validated by one read of the rows.
-- PostgreSQL refuses to retype a column that a view or a trigger's condition names: those are
-- dropped and recreated from their own definitions. subject and description keep their table
-- checks: retyping them rebuilds the text search index; priority keeps its own: priority_rank is
-- generated from it. Clients still see
-- text and integers (PostgreSQL describes a domain column by its base type), so src/schema.rs is
-- unchanged.

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

CREATE DOMAIN ticket_category AS TEXT;
CREATE DOMAIN ticket_status AS TEXT;
CREATE DOMAIN ticket_channel AS TEXT;
CREATE DOMAIN ticket_external_ref AS TEXT;
CREATE DOMAIN ticket_reopen_count AS INTEGER;
CREATE DOMAIN ticket_version AS INTEGER;
CREATE DOMAIN ticket_event_actor AS TEXT;
CREATE DOMAIN ticket_event_kind AS TEXT;
CREATE DOMAIN ticket_event_value AS TEXT;
CREATE DOMAIN ticket_event_note AS TEXT;

ALTER TABLE tickets
    DROP CONSTRAINT tickets_category_check,
    DROP CONSTRAINT tickets_status_check,
    DROP CONSTRAINT tickets_channel_check,
    DROP CONSTRAINT tickets_external_ref_check,
    DROP CONSTRAINT tickets_reopen_count_check,
    DROP CONSTRAINT tickets_version_check,
    ALTER COLUMN category TYPE ticket_category,
    ALTER COLUMN status TYPE ticket_status,
    ALTER COLUMN channel TYPE ticket_channel,
    ALTER COLUMN external_ref TYPE ticket_external_ref,
    ALTER COLUMN reopen_count TYPE ticket_reopen_count,
    ALTER COLUMN version TYPE ticket_version;
ALTER TABLE ticket_events
    DROP CONSTRAINT ticket_events_actor_check,
    DROP CONSTRAINT ticket_events_kind_check,
    DROP CONSTRAINT ticket_events_from_value_check,
    DROP CONSTRAINT ticket_events_to_value_check,
    DROP CONSTRAINT ticket_events_note_check,
    ALTER COLUMN actor TYPE ticket_event_actor,
    ALTER COLUMN kind TYPE ticket_event_kind,
    ALTER COLUMN from_value TYPE ticket_event_value,
    ALTER COLUMN to_value TYPE ticket_event_value,
    ALTER COLUMN note TYPE ticket_event_note;

ALTER DOMAIN ticket_category ADD CONSTRAINT tickets_category_check
    CHECK (char_length(btrim(VALUE)) >= 1 AND char_length(btrim(VALUE)) <= 64) NOT VALID;
ALTER DOMAIN ticket_status ADD CONSTRAINT tickets_status_check
    CHECK (VALUE IN ('OPEN', 'IN_PROGRESS', 'RESOLVED', 'CLOSED')) NOT VALID;
ALTER DOMAIN ticket_channel ADD CONSTRAINT tickets_channel_check
    CHECK (VALUE IN ('PHONE', 'EMAIL', 'CHAT', 'WEB')) NOT VALID;
ALTER DOMAIN ticket_external_ref ADD CONSTRAINT tickets_external_ref_check
    CHECK (char_length(VALUE) >= 1 AND char_length(VALUE) <= 200) NOT VALID;
ALTER DOMAIN ticket_reopen_count ADD CONSTRAINT tickets_reopen_count_check CHECK (VALUE >= 0) NOT VALID;
ALTER DOMAIN ticket_version ADD CONSTRAINT tickets_version_check CHECK (VALUE >= 1) NOT VALID;
ALTER DOMAIN ticket_event_actor ADD CONSTRAINT ticket_events_actor_check
    CHECK (char_length(VALUE) >= 1 AND char_length(VALUE) <= 200) NOT VALID;
ALTER DOMAIN ticket_event_kind ADD CONSTRAINT ticket_events_kind_check
    CHECK (VALUE IN ('CREATED', 'ASSIGNED', 'STATUS_CHANGED', 'REOPENED', 'PRIORITY_CHANGED', 'NOTE_ADDED',
                     'RATED', 'SLA_APPLIED', 'SLA_BREACHED')) NOT VALID;
ALTER DOMAIN ticket_event_value ADD CONSTRAINT ticket_events_value_check CHECK (char_length(VALUE) <= 200) NOT VALID;
ALTER DOMAIN ticket_event_note ADD CONSTRAINT ticket_events_note_check CHECK (char_length(VALUE) <= 20000) NOT VALID;

ALTER DOMAIN ticket_category VALIDATE CONSTRAINT tickets_category_check;
ALTER DOMAIN ticket_status VALIDATE CONSTRAINT tickets_status_check;
ALTER DOMAIN ticket_channel VALIDATE CONSTRAINT tickets_channel_check;
ALTER DOMAIN ticket_external_ref VALIDATE CONSTRAINT tickets_external_ref_check;
ALTER DOMAIN ticket_reopen_count VALIDATE CONSTRAINT tickets_reopen_count_check;
ALTER DOMAIN ticket_version VALIDATE CONSTRAINT tickets_version_check;
ALTER DOMAIN ticket_event_actor VALIDATE CONSTRAINT ticket_events_actor_check;
ALTER DOMAIN ticket_event_kind VALIDATE CONSTRAINT ticket_events_kind_check;
ALTER DOMAIN ticket_event_value VALIDATE CONSTRAINT ticket_events_value_check;
ALTER DOMAIN ticket_event_note VALIDATE CONSTRAINT ticket_events_note_check;

-- OPEN and IN_PROGRESS: neither resolved nor closed; RESOLVED: resolved, not closed; CLOSED: both.
ALTER TABLE tickets
    DROP CONSTRAINT tickets_status_matches_timestamps,
    ADD CONSTRAINT tickets_status_matches_timestamps
        CHECK ((resolved_at IS NULL) = (status IN ('OPEN', 'IN_PROGRESS'))
               AND (closed_at IS NULL) = (status <> 'CLOSED')) NOT VALID;
ALTER TABLE tickets VALIDATE CONSTRAINT tickets_status_matches_timestamps;

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
