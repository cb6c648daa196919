-- Back to the table constraints of migrations 000002 and 000015.
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
