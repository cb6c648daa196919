DROP TRIGGER kpi_facts_ticket_slas_insert ON ticket_slas;
DROP TRIGGER kpi_facts_ticket_slas_update ON ticket_slas;
DROP TRIGGER kpi_facts_ticket_slas_delete ON ticket_slas;
DROP FUNCTION kpi_facts_after_ticket_sla_row();
DROP TRIGGER ticket_slas_intern_calendar ON ticket_slas;
DROP FUNCTION ticket_slas_intern_calendar();
-- The view as migration 000010 made it (CREATE OR REPLACE cannot drop columns it uses: drop it).
DROP VIEW kpi_ticket_fact_source;
CREATE VIEW kpi_ticket_fact_source AS
SELECT t.id AS ticket_id,
       least(t.opened_at, i.first_at) AS starts_at,
       active.until AS active_until,
       active.until > least(t.opened_at, i.first_at) + interval '14 days' AS long_lived,
       kpi_pack_instant(t.opened_at) || kpi_pack_instant(t.first_response_at)
           || kpi_pack_instant(t.first_resolved_at) || kpi_pack_instant(t.resolved_at)
           || kpi_pack_instant(t.closed_at) || kpi_pack_id(t.customer_id) || kpi_pack_id(t.assignee_id)
           || int2send(((CASE WHEN t.status IN ('RESOLVED', 'CLOSED') THEN 1 ELSE 0 END)
                        + (CASE WHEN t.reopen_count > 0 THEN 2 ELSE 0 END))::int2)
           || int2send(coalesce(r.rating, 0)::int2) || kpi_pack_instant(r.submitted_at)
           || kpi_pack_text(t.category) || kpi_pack_text(t.priority) || kpi_pack_text(t.channel)
           || int4send(coalesce(s.n, 0)::int4) || coalesce(s.packed, '')
           || int4send(coalesce(i.n, 0)::int4) || coalesce(i.packed, '') AS facts
FROM tickets t
LEFT JOIN satisfaction_ratings r ON r.ticket_id = t.id AND r.superseded_at IS NULL
-- Status changes of reopened tickets, in order: the backlog replays them. (A ticket never
-- reopened has one resolution, its first_resolved_at.)
LEFT JOIN LATERAL (
    SELECT count(*) AS n, max(e.at) AS last_at,
           string_agg(kpi_pack_instant(e.at) || int2send((CASE WHEN e.kind = 'REOPENED' THEN 1 ELSE -1 END)::int2),
                      ''::bytea ORDER BY e.at, e.id) AS packed
    FROM ticket_events e
    WHERE t.reopen_count > 0 AND e.ticket_id = t.id
      AND (e.kind = 'REOPENED' OR (e.kind = 'STATUS_CHANGED' AND e.to_value = 'RESOLVED'))
) s ON true
-- Interactions linked to the ticket that no later entry corrects.
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
ALTER TABLE ticket_slas DROP COLUMN calendar_copy_id;
SELECT kpi_refresh_tickets(ARRAY(SELECT ticket_id FROM ticket_slas));
DROP FUNCTION sla_intern_calendar(JSONB);
DROP TABLE sla_calendar_copies;
