-- The ticket write path in fewer, planned-once statements (docs/benchmarks.md, "Fifth session").
--
-- kpi_pack_text was declared IMMUTABLE around convert_to, which is STABLE, so the planner never
-- inlined it: each of its three calls per fact refresh ran as a SQL function, parsed and planned
-- anew on every call. Declared STABLE (what it is), it is inlined into the view's plan.
ALTER FUNCTION kpi_pack_text(TEXT) STABLE;

-- A column default in plpgsql keeps its plan for the connection; the SQL function it replaces was
-- parsed and planned on every insert. Same numbers, same sequence.
CREATE OR REPLACE FUNCTION next_ticket_number() RETURNS TEXT
LANGUAGE plpgsql AS $$
DECLARE
    n BIGINT := nextval('ticket_number_seq');
BEGIN
    RETURN 'TS-' || CASE WHEN n < 1000000 THEN lpad(n::text, 6, '0') ELSE n::text END;
END
$$;

-- Opens a ticket with its CREATED event (and ASSIGNED, when it starts assigned), in the one
-- statement that calls it. `refused` names what does not allow it ('customer': no such customer;
-- 'technician': no such technician; 'deactivated': the technician is deactivated), and then
-- nothing is written.
CREATE FUNCTION ticket_open(
    p_customer_id BIGINT, p_subject TEXT, p_description TEXT, p_category TEXT, p_priority TEXT,
    p_channel TEXT, p_assignee_id BIGINT, p_opened_at TIMESTAMPTZ, p_actor TEXT,
    OUT id BIGINT, OUT number TEXT, OUT created_at TIMESTAMPTZ, OUT updated_at TIMESTAMPTZ, OUT refused TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    active BOOLEAN;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = p_customer_id) THEN
        refused := 'customer';
        RETURN;
    END IF;
    IF p_assignee_id IS NOT NULL THEN
        SELECT t.active INTO active FROM technicians t WHERE t.id = p_assignee_id;
        IF active IS NULL OR NOT active THEN
            refused := CASE WHEN active IS NULL THEN 'technician' ELSE 'deactivated' END;
            RETURN;
        END IF;
    END IF;
    INSERT INTO tickets AS t (customer_id, subject, description, category, priority, channel, assignee_id, opened_at)
    VALUES (p_customer_id, p_subject, p_description, p_category, p_priority, p_channel, p_assignee_id, p_opened_at)
    RETURNING t.id, t.number, t.created_at, t.updated_at INTO id, number, created_at, updated_at;
    INSERT INTO ticket_events (ticket_id, at, actor, kind, to_value) VALUES (id, p_opened_at, p_actor, 'CREATED', 'OPEN');
    IF p_assignee_id IS NOT NULL THEN
        INSERT INTO ticket_events (ticket_id, at, actor, kind, to_value)
        VALUES (id, p_opened_at, p_actor, 'ASSIGNED', p_assignee_id::text);
    END IF;
END
$$;

-- Applies one change to a ticket and writes its event, in the one statement that calls it, if the
-- ticket is still as the caller read it: the same version and the same first response (an outbound
-- interaction moves that without a version). Returns the instant the change is dated (the new
-- version is the one read plus one), or NULL when the ticket moved on or is gone: the caller reads
-- it again and decides.
--
-- The row is locked before anything is checked, and the change is dated no earlier than the
-- ticket's latest event, so that a ticket's events are dated in the order they committed: a rating
-- takes the row's lock without a version, and another instance's clock may run ahead. The
-- lifecycle instants the caller set to `p_at` move with it.
CREATE FUNCTION ticket_apply_change(
    p_id BIGINT, p_read_version INT, p_read_first_response_at TIMESTAMPTZ,
    p_status TEXT, p_first_response_at TIMESTAMPTZ, p_first_resolved_at TIMESTAMPTZ, p_resolved_at TIMESTAMPTZ,
    p_closed_at TIMESTAMPTZ, p_reopen_count INT, p_assignee_id BIGINT, p_priority TEXT,
    p_at TIMESTAMPTZ, p_actor TEXT, p_kind TEXT, p_from TEXT, p_to TEXT, p_note TEXT)
RETURNS TIMESTAMPTZ
LANGUAGE plpgsql AS $$
DECLARE
    dated TIMESTAMPTZ;
BEGIN
    PERFORM 1 FROM tickets t
    WHERE t.id = p_id AND t.version = p_read_version
      AND t.first_response_at IS NOT DISTINCT FROM p_read_first_response_at
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT greatest(p_at, max(e.at)) INTO dated FROM ticket_events e WHERE e.ticket_id = p_id;
    UPDATE tickets AS t
    SET status = p_status,
        first_response_at = CASE WHEN p_first_response_at = p_at THEN dated ELSE p_first_response_at END,
        first_resolved_at = CASE WHEN p_first_resolved_at = p_at THEN dated ELSE p_first_resolved_at END,
        resolved_at = CASE WHEN p_resolved_at = p_at THEN dated ELSE p_resolved_at END,
        closed_at = CASE WHEN p_closed_at = p_at THEN dated ELSE p_closed_at END,
        reopen_count = p_reopen_count, assignee_id = p_assignee_id, priority = p_priority,
        version = p_read_version + 1, updated_at = dated
    WHERE t.id = p_id;
    INSERT INTO ticket_events (ticket_id, at, actor, kind, from_value, to_value, note)
    VALUES (p_id, dated, p_actor, p_kind, p_from, p_to, p_note);
    RETURN dated;
END
$$;
