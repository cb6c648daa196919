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
-- so the domains get their checks after the change, validated by one read of the rows. The view
-- and the two triggers that name these columns are recreated as they were (migrations 000014 and
-- 000022). subject and description keep their table checks: retyping them rebuilds the text
-- search index; priority keeps its own: priority_rank is generated from it. Clients still see
-- text and integers (PostgreSQL describes a domain column by its base type), so src/schema.rs is
-- unchanged.

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

-- As migration 000022 left it.
CREATE VIEW kpi_ticket_fact_source AS
SELECT t.id AS ticket_id,
       least(t.opened_at, i.first_at) AS starts_at,
       active.until AS active_until,
       active.until > least(t.opened_at, i.first_at) + interval '14 days' AS long_lived,
       kpi_pack_instant(t.opened_at) || kpi_pack_instant(t.first_response_at)
           || kpi_pack_instant(t.first_resolved_at) || kpi_pack_instant(t.resolved_at)
           || kpi_pack_instant(t.closed_at) || kpi_pack_id(t.customer_id) || kpi_pack_id(t.assignee_id)
           || int2send(((CASE WHEN t.status IN ('RESOLVED', 'CLOSED') THEN 1 ELSE 0 END)
                        + (CASE WHEN t.reopen_count > 0 THEN 2 ELSE 0 END)
                        + (CASE WHEN sla.ticket_id IS NOT NULL THEN 4 ELSE 0 END))::int2)
           || int2send(coalesce(r.rating, 0)::int2) || kpi_pack_instant(r.submitted_at)
           || kpi_pack_text(t.category) || kpi_pack_text(t.priority) || kpi_pack_text(t.channel)
           || int4send(coalesce(s.n, 0)::int4) || coalesce(s.packed, '')
           || int4send(coalesce(i.n, 0)::int4) || coalesce(i.packed, '')
           || CASE WHEN sla.ticket_id IS NULL THEN ''::bytea
                   ELSE int8send(sla.calendar_copy_id)
                        || int4send(((sla.policy ->> 'firstResponseMinutes')::int * 60)::int4)
                        || int4send(((sla.policy ->> 'resolutionMinutes')::int * 60)::int4)
                        || kpi_pack_instant(sla.first_response_due_at)
                        || kpi_pack_instant(sla.resolution_breach_at) END AS facts
FROM tickets t
LEFT JOIN satisfaction_ratings r ON r.ticket_id = t.id AND r.superseded_at IS NULL
LEFT JOIN ticket_slas sla ON sla.ticket_id = t.id
LEFT JOIN LATERAL (
    SELECT count(*) AS n, max(e.at) AS last_at,
           string_agg(kpi_pack_instant(e.at) || int2send((CASE WHEN e.kind = 'REOPENED' THEN 1 ELSE -1 END)::int2),
                      ''::bytea ORDER BY e.at, e.id) AS packed
    FROM ticket_events e
    WHERE t.reopen_count > 0 AND e.ticket_id = t.id
      AND (e.kind = 'REOPENED' OR (e.kind = 'STATUS_CHANGED' AND e.to_value = 'RESOLVED'))
) s ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS n, min(x.occurred_at) AS first_at, max(x.occurred_at) AS last_at,
           string_agg(kpi_pack_interaction(x), ''::bytea ORDER BY x.occurred_at, x.id) AS packed
    FROM interactions x
    WHERE x.ticket_id = t.id AND NOT EXISTS (SELECT 1 FROM interactions c WHERE c.corrects_id = x.id)
) i ON true
CROSS JOIN LATERAL (
    SELECT CASE WHEN t.status IN ('OPEN', 'IN_PROGRESS') THEN 'infinity'::timestamptz
                ELSE greatest(t.opened_at, t.first_resolved_at, t.resolved_at, t.closed_at, r.submitted_at,
                              s.last_at, i.last_at) END AS until
) active;

-- As migration 000014 made them.
CREATE TRIGGER kpi_facts_tickets_update AFTER UPDATE ON tickets FOR EACH ROW
    WHEN ((NEW.opened_at, NEW.first_response_at, NEW.first_resolved_at, NEW.resolved_at, NEW.closed_at,
           NEW.customer_id, NEW.assignee_id, NEW.status, NEW.reopen_count, NEW.category, NEW.priority, NEW.channel)
          IS DISTINCT FROM
          (OLD.opened_at, OLD.first_response_at, OLD.first_resolved_at, OLD.resolved_at, OLD.closed_at,
           OLD.customer_id, OLD.assignee_id, OLD.status, OLD.reopen_count, OLD.category, OLD.priority, OLD.channel))
    EXECUTE FUNCTION kpi_facts_after_ticket_row();
CREATE TRIGGER kpi_facts_ticket_events_insert AFTER INSERT ON ticket_events FOR EACH ROW
    WHEN (NEW.kind = 'REOPENED' OR (NEW.kind = 'STATUS_CHANGED' AND NEW.to_value = 'RESOLVED'))
    EXECUTE FUNCTION kpi_facts_after_status_event_row();
