-- SLA KPIs (docs/kpis.md, "SLA"): a ticket's fact row also carries what its SLA needs, so the
-- engine computes attainment, breaches and business-time durations in the same pass as every
-- other KPI.
--
-- Business time needs the calendar the ticket's clocks count in: the copy its policy was applied
-- with (ticket_slas.policy), not the calendar as edited since. Copies are interned here, one row
-- per distinct calendar, so that a fact row names its copy by a number and the engine reads the
-- few copies once per question.
CREATE TABLE sla_calendar_copies (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- md5 of the calendar's canonical jsonb text: a calendar with many holidays is too long for
    -- a btree key.
    digest   TEXT   NOT NULL UNIQUE,
    calendar JSONB  NOT NULL
);

CREATE FUNCTION sla_intern_calendar(calendar JSONB) RETURNS BIGINT
LANGUAGE sql AS $$
    INSERT INTO sla_calendar_copies (digest, calendar) VALUES (md5(calendar::text), calendar)
    ON CONFLICT (digest) DO UPDATE SET digest = EXCLUDED.digest
    RETURNING id
$$;

ALTER TABLE ticket_slas ADD COLUMN calendar_copy_id BIGINT REFERENCES sla_calendar_copies (id);
UPDATE ticket_slas SET calendar_copy_id = sla_intern_calendar(policy -> 'calendar');
ALTER TABLE ticket_slas ALTER COLUMN calendar_copy_id SET NOT NULL;

CREATE FUNCTION ticket_slas_intern_calendar() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.calendar_copy_id := sla_intern_calendar(NEW.policy -> 'calendar');
    RETURN NEW;
END
$$;
CREATE TRIGGER ticket_slas_intern_calendar BEFORE INSERT OR UPDATE OF policy ON ticket_slas
    FOR EACH ROW EXECUTE FUNCTION ticket_slas_intern_calendar();

-- The packed layout of migration 000010 gains flag 4 (the ticket carries an SLA) and, after the
-- interactions, when that flag is set: the calendar copy (i64), the first-response and
-- resolution targets in business seconds (2 x i32), the first response's due instant and the
-- resolution clock's breach instant (2 x i64, absent: i64::MIN). A ticket without SLA packs
-- exactly as before, so its row and the sealed blocks holding it stay as they are.
CREATE OR REPLACE VIEW kpi_ticket_fact_source AS
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

-- A ticket's facts follow its SLA row: applied, moved by a status or priority change, removed.
CREATE FUNCTION kpi_facts_after_ticket_sla_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT kpi_facts_deferred() THEN
        PERFORM kpi_refresh_tickets(ARRAY[CASE WHEN TG_OP = 'DELETE' THEN OLD.ticket_id ELSE NEW.ticket_id END]);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER kpi_facts_ticket_slas_insert AFTER INSERT ON ticket_slas
    FOR EACH ROW EXECUTE FUNCTION kpi_facts_after_ticket_sla_row();
CREATE TRIGGER kpi_facts_ticket_slas_update AFTER UPDATE ON ticket_slas FOR EACH ROW
    WHEN ((NEW.calendar_copy_id, NEW.policy, NEW.first_response_due_at, NEW.resolution_breach_at)
          IS DISTINCT FROM (OLD.calendar_copy_id, OLD.policy, OLD.first_response_due_at, OLD.resolution_breach_at))
    EXECUTE FUNCTION kpi_facts_after_ticket_sla_row();
CREATE TRIGGER kpi_facts_ticket_slas_delete AFTER DELETE ON ticket_slas
    FOR EACH ROW EXECUTE FUNCTION kpi_facts_after_ticket_sla_row();

-- The tickets that already carry an SLA.
SELECT kpi_refresh_tickets(ARRAY(SELECT ticket_id FROM ticket_slas));
