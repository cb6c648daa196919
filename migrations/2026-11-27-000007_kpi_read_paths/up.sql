-- Read paths of the KPI queries: each period condition reads a covering index, so counts and
-- duration percentiles come from index-only scans of narrow entries instead of ticket rows.
CREATE INDEX tickets_kpi_opened_idx ON tickets (opened_at)
    INCLUDE (assignee_id, category, priority, channel, status, first_response_at, first_resolved_at, reopen_count);
CREATE INDEX tickets_kpi_resolved_idx ON tickets (resolved_at)
    INCLUDE (opened_at, assignee_id, category, priority, channel, reopen_count) WHERE resolved_at IS NOT NULL;
CREATE INDEX tickets_kpi_first_resolved_idx ON tickets (first_resolved_at)
    INCLUDE (opened_at, assignee_id, category, priority, channel, reopen_count) WHERE first_resolved_at IS NOT NULL;
CREATE INDEX tickets_kpi_closed_idx ON tickets (closed_at)
    INCLUDE (assignee_id, category, priority, channel) WHERE closed_at IS NOT NULL;
-- The backlog at an instant counts tickets never resolved yet...
CREATE INDEX tickets_kpi_unresolved_idx ON tickets (opened_at)
    INCLUDE (assignee_id, category, priority, channel) WHERE first_resolved_at IS NULL;
-- ...and replays the status events of reopened tickets.
CREATE INDEX ticket_events_status_idx ON ticket_events (ticket_id, at)
    WHERE kind = 'REOPENED' OR (kind = 'STATUS_CHANGED' AND to_value = 'RESOLVED');
CREATE INDEX satisfaction_ratings_kpi_idx ON satisfaction_ratings (submitted_at)
    INCLUDE (ticket_id, rating) WHERE superseded_at IS NULL;
CREATE INDEX interactions_kpi_idx ON interactions (occurred_at)
    INCLUDE (technician_id, ticket_id, channel, direction, duration_seconds);

DROP INDEX tickets_resolved_at_idx;
DROP INDEX tickets_closed_at_idx;
DROP INDEX satisfaction_ratings_submitted_at_idx;
