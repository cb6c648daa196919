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
-- The backlog at an instant T counts tickets not yet resolved at T (never resolved: infinity)...
-- (The expressions' columns are included too: PostgreSQL answers from an expression index alone
-- only when it also holds the columns the expression reads.)
CREATE INDEX tickets_kpi_pending_idx ON tickets ((coalesce(first_resolved_at, 'infinity')))
    INCLUDE (first_resolved_at, opened_at, assignee_id, category, priority, channel);
-- ...and, among reopened tickets whose last resolution is after T, replays the status events.
CREATE INDEX tickets_kpi_reopened_idx ON tickets ((coalesce(resolved_at, 'infinity')))
    INCLUDE (resolved_at, reopen_count, opened_at, first_resolved_at, assignee_id, category, priority, channel)
    WHERE reopen_count > 0;
CREATE INDEX ticket_events_status_idx ON ticket_events (ticket_id, at)
    WHERE kind = 'REOPENED' OR (kind = 'STATUS_CHANGED' AND to_value = 'RESOLVED');
CREATE INDEX satisfaction_ratings_kpi_idx ON satisfaction_ratings (submitted_at)
    INCLUDE (ticket_id, rating) WHERE superseded_at IS NULL;
CREATE INDEX interactions_kpi_idx ON interactions (occurred_at)
    INCLUDE (technician_id, ticket_id, channel, direction, duration_seconds);

DROP INDEX tickets_resolved_at_idx;
DROP INDEX tickets_closed_at_idx;
DROP INDEX satisfaction_ratings_submitted_at_idx;
