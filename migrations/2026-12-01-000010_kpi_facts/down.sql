DROP INDEX tickets_closed_at_idx;
CREATE INDEX tickets_kpi_opened_idx ON tickets (opened_at)
    INCLUDE (assignee_id, category, priority, channel, status, first_response_at, first_resolved_at, reopen_count);
CREATE INDEX tickets_kpi_resolved_idx ON tickets (resolved_at)
    INCLUDE (opened_at, assignee_id, category, priority, channel, reopen_count) WHERE resolved_at IS NOT NULL;
CREATE INDEX tickets_kpi_first_resolved_idx ON tickets (first_resolved_at)
    INCLUDE (opened_at, assignee_id, category, priority, channel, reopen_count) WHERE first_resolved_at IS NOT NULL;
CREATE INDEX tickets_kpi_closed_idx ON tickets (closed_at)
    INCLUDE (assignee_id, category, priority, channel) WHERE closed_at IS NOT NULL;
CREATE INDEX tickets_kpi_pending_idx ON tickets ((coalesce(first_resolved_at, 'infinity')))
    INCLUDE (first_resolved_at, opened_at, assignee_id, category, priority, channel);
CREATE INDEX tickets_kpi_reopened_idx ON tickets ((coalesce(resolved_at, 'infinity')))
    INCLUDE (resolved_at, reopen_count, opened_at, first_resolved_at, assignee_id, category, priority, channel)
    WHERE reopen_count > 0;
CREATE INDEX ticket_events_status_idx ON ticket_events (ticket_id, at)
    WHERE kind = 'REOPENED' OR (kind = 'STATUS_CHANGED' AND to_value = 'RESOLVED');
CREATE INDEX satisfaction_ratings_kpi_idx ON satisfaction_ratings (submitted_at)
    INCLUDE (ticket_id, rating) WHERE superseded_at IS NULL;
CREATE INDEX interactions_kpi_idx ON interactions (occurred_at)
    INCLUDE (technician_id, ticket_id, channel, direction, duration_seconds);

DROP TRIGGER kpi_facts_interactions_delete ON interactions;
DROP TRIGGER kpi_facts_interactions_update ON interactions;
DROP TRIGGER kpi_facts_interactions_insert ON interactions;
DROP TRIGGER kpi_facts_ratings_delete ON satisfaction_ratings;
DROP TRIGGER kpi_facts_ratings_update ON satisfaction_ratings;
DROP TRIGGER kpi_facts_ratings_insert ON satisfaction_ratings;
DROP TRIGGER kpi_facts_ticket_events_insert ON ticket_events;
DROP TRIGGER kpi_facts_tickets_update ON tickets;
DROP TRIGGER kpi_facts_tickets_insert ON tickets;
DROP FUNCTION kpi_facts_after_interaction_change();
DROP FUNCTION kpi_facts_after_rating_change();
DROP FUNCTION kpi_facts_after_status_event();
DROP FUNCTION kpi_facts_after_ticket_update();
DROP FUNCTION kpi_facts_after_ticket_insert();
DROP FUNCTION kpi_facts_deferred();
DROP FUNCTION kpi_refresh_loose_interactions(BIGINT[]);
DROP FUNCTION kpi_refresh_tickets(BIGINT[]);
DROP VIEW kpi_loose_interaction_fact_source;
DROP VIEW kpi_ticket_fact_source;
DROP FUNCTION kpi_pack_interaction(interactions);
DROP FUNCTION kpi_pack_text(TEXT);
DROP FUNCTION kpi_pack_id(BIGINT);
DROP FUNCTION kpi_pack_instant(TIMESTAMPTZ);
DROP TABLE kpi_loose_interaction_facts;
DROP TABLE kpi_ticket_facts;
