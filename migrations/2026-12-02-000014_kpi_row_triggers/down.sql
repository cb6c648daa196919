-- Back to the statement triggers of migrations 000010 and 000011.
DROP TRIGGER kpi_facts_tickets_insert ON tickets;
DROP TRIGGER kpi_facts_tickets_update ON tickets;
DROP TRIGGER kpi_facts_ticket_events_insert ON ticket_events;
DROP TRIGGER kpi_blocks_facts_insert ON kpi_ticket_facts;
DROP TRIGGER kpi_blocks_facts_update ON kpi_ticket_facts;
DROP TRIGGER kpi_blocks_facts_delete ON kpi_ticket_facts;
DROP FUNCTION kpi_facts_after_ticket_row();
DROP FUNCTION kpi_facts_after_status_event_row();
DROP FUNCTION kpi_blocks_after_facts_row();

CREATE FUNCTION kpi_facts_after_ticket_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT kpi_facts_deferred() THEN
        PERFORM kpi_refresh_tickets(ARRAY(SELECT id FROM new_rows));
    END IF;
    RETURN NULL;
END
$$;
CREATE FUNCTION kpi_facts_after_ticket_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT kpi_facts_deferred() THEN
        PERFORM kpi_refresh_tickets(ARRAY(
            SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.opened_at, n.first_response_at, n.first_resolved_at, n.resolved_at, n.closed_at,
                   n.customer_id, n.assignee_id, n.status, n.reopen_count, n.category, n.priority, n.channel)
                  IS DISTINCT FROM
                  (o.opened_at, o.first_response_at, o.first_resolved_at, o.resolved_at, o.closed_at,
                   o.customer_id, o.assignee_id, o.status, o.reopen_count, o.category, o.priority, o.channel)));
    END IF;
    RETURN NULL;
END
$$;
CREATE FUNCTION kpi_facts_after_status_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT kpi_facts_deferred() THEN
        PERFORM kpi_refresh_tickets(ARRAY(
            SELECT DISTINCT e.ticket_id FROM new_rows e JOIN tickets t ON t.id = e.ticket_id
            WHERE t.reopen_count > 0
              AND (e.kind = 'REOPENED' OR (e.kind = 'STATUS_CHANGED' AND e.to_value = 'RESOLVED'))));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER kpi_facts_tickets_insert AFTER INSERT ON tickets
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kpi_facts_after_ticket_insert();
CREATE TRIGGER kpi_facts_tickets_update AFTER UPDATE ON tickets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kpi_facts_after_ticket_update();
CREATE TRIGGER kpi_facts_ticket_events_insert AFTER INSERT ON ticket_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kpi_facts_after_status_event();
CREATE FUNCTION kpi_blocks_after_facts_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kpi_dirty_days (day) SELECT DISTINCT kpi_block_day(starts_at) FROM new_rows;
    RETURN NULL;
END
$$;

CREATE FUNCTION kpi_blocks_after_facts_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kpi_dirty_days (day)
    SELECT kpi_block_day(starts_at) FROM new_rows UNION SELECT kpi_block_day(starts_at) FROM old_rows;
    RETURN NULL;
END
$$;

CREATE FUNCTION kpi_blocks_after_facts_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kpi_dirty_days (day) SELECT DISTINCT kpi_block_day(starts_at) FROM old_rows;
    RETURN NULL;
END
$$;

CREATE TRIGGER kpi_blocks_facts_insert AFTER INSERT ON kpi_ticket_facts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kpi_blocks_after_facts_insert();
CREATE TRIGGER kpi_blocks_facts_update AFTER UPDATE ON kpi_ticket_facts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kpi_blocks_after_facts_update();
CREATE TRIGGER kpi_blocks_facts_delete AFTER DELETE ON kpi_ticket_facts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kpi_blocks_after_facts_delete();
