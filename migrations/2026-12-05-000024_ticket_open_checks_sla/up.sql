-- ticket_open with the SLA policy look-up folded in: with p_uncovered_only, a ticket some policy
-- covers is refused ('covered', nothing written), and the caller opens it again in a transaction
-- with its SLA. A ticket none covers (the common case) is opened in one statement, not two.
-- The nine-argument function of migration 000017 stays for instances not yet upgraded.
CREATE FUNCTION ticket_open(
    p_customer_id BIGINT, p_subject TEXT, p_description TEXT, p_category TEXT, p_priority TEXT,
    p_channel TEXT, p_assignee_id BIGINT, p_opened_at TIMESTAMPTZ, p_actor TEXT, p_uncovered_only BOOLEAN,
    OUT id BIGINT, OUT number TEXT, OUT created_at TIMESTAMPTZ, OUT updated_at TIMESTAMPTZ, OUT refused TEXT)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_uncovered_only AND EXISTS (
        SELECT 1 FROM sla_policies s
        WHERE s.priority = p_priority AND (s.category = p_category OR s.category IS NULL)
    ) THEN
        refused := 'covered';
        RETURN;
    END IF;
    SELECT o.id, o.number, o.created_at, o.updated_at, o.refused INTO id, number, created_at, updated_at, refused
    FROM ticket_open(p_customer_id, p_subject, p_description, p_category, p_priority, p_channel, p_assignee_id,
                     p_opened_at, p_actor) o;
END
$$;
