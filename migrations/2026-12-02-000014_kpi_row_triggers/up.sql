-- The KPI triggers of the write path as row triggers (docs/benchmarks.md, "What the fact rows
-- cost the writes"). Statement triggers with transition tables cost a tuplestore and a plpgsql
-- call on every write, even when nothing a fact holds changed; a row trigger's WHEN condition is
-- evaluated without calling any function, so a note, a version bump or an IN_PROGRESS event costs
-- nothing here. What is written is unchanged: the facts still come from kpi_refresh_tickets, the
-- one source of the packed rows, and every changed fact row still leaves its dirty day. Bulk
-- loads still defer the facts (kpi_facts_deferred) and refresh them in one pass.
-- Tickets: a new ticket, and an update that changes a column the facts hold.
DROP TRIGGER kpi_facts_tickets_insert ON tickets;
DROP TRIGGER kpi_facts_tickets_update ON tickets;
DROP TRIGGER kpi_facts_ticket_events_insert ON ticket_events;

CREATE FUNCTION kpi_facts_after_ticket_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT kpi_facts_deferred() THEN
        PERFORM kpi_refresh_tickets(ARRAY[NEW.id]);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER kpi_facts_tickets_insert AFTER INSERT ON tickets
    FOR EACH ROW EXECUTE FUNCTION kpi_facts_after_ticket_row();
CREATE TRIGGER kpi_facts_tickets_update AFTER UPDATE ON tickets FOR EACH ROW
    WHEN ((NEW.opened_at, NEW.first_response_at, NEW.first_resolved_at, NEW.resolved_at, NEW.closed_at,
           NEW.customer_id, NEW.assignee_id, NEW.status, NEW.reopen_count, NEW.category, NEW.priority, NEW.channel)
          IS DISTINCT FROM
          (OLD.opened_at, OLD.first_response_at, OLD.first_resolved_at, OLD.resolved_at, OLD.closed_at,
           OLD.customer_id, OLD.assignee_id, OLD.status, OLD.reopen_count, OLD.category, OLD.priority, OLD.channel))
    EXECUTE FUNCTION kpi_facts_after_ticket_row();

-- Only reopened tickets keep their status changes in their facts, and only a reopening or a
-- resolution changes that list.
CREATE FUNCTION kpi_facts_after_status_event_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT kpi_facts_deferred() AND EXISTS (SELECT 1 FROM tickets WHERE id = NEW.ticket_id AND reopen_count > 0) THEN
        PERFORM kpi_refresh_tickets(ARRAY[NEW.ticket_id]);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER kpi_facts_ticket_events_insert AFTER INSERT ON ticket_events FOR EACH ROW
    WHEN (NEW.kind = 'REOPENED' OR (NEW.kind = 'STATUS_CHANGED' AND NEW.to_value = 'RESOLVED'))
    EXECUTE FUNCTION kpi_facts_after_status_event_row();

-- Blocks: every insert, update or delete of a fact row marks its day (both days when it moves).
DROP TRIGGER kpi_blocks_facts_insert ON kpi_ticket_facts;
DROP TRIGGER kpi_blocks_facts_update ON kpi_ticket_facts;
DROP TRIGGER kpi_blocks_facts_delete ON kpi_ticket_facts;
CREATE FUNCTION kpi_blocks_after_facts_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO kpi_dirty_days (day) VALUES (kpi_block_day(OLD.starts_at));
    END IF;
    IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR kpi_block_day(NEW.starts_at) <> kpi_block_day(OLD.starts_at)) THEN
        INSERT INTO kpi_dirty_days (day) VALUES (kpi_block_day(NEW.starts_at));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER kpi_blocks_facts_insert AFTER INSERT ON kpi_ticket_facts
    FOR EACH ROW EXECUTE FUNCTION kpi_blocks_after_facts_row();
CREATE TRIGGER kpi_blocks_facts_update AFTER UPDATE ON kpi_ticket_facts
    FOR EACH ROW EXECUTE FUNCTION kpi_blocks_after_facts_row();
CREATE TRIGGER kpi_blocks_facts_delete AFTER DELETE ON kpi_ticket_facts
    FOR EACH ROW EXECUTE FUNCTION kpi_blocks_after_facts_row();

-- Replaced by the row functions above.
DROP FUNCTION kpi_facts_after_ticket_insert();
DROP FUNCTION kpi_facts_after_ticket_update();
DROP FUNCTION kpi_facts_after_status_event();
DROP FUNCTION kpi_blocks_after_facts_insert();
DROP FUNCTION kpi_blocks_after_facts_update();
DROP FUNCTION kpi_blocks_after_facts_delete();
