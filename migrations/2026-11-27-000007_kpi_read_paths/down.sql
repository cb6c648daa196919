CREATE INDEX tickets_resolved_at_idx ON tickets (resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX tickets_closed_at_idx ON tickets (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX satisfaction_ratings_submitted_at_idx ON satisfaction_ratings (submitted_at)
    WHERE superseded_at IS NULL;
DROP INDEX interactions_kpi_idx;
DROP INDEX satisfaction_ratings_kpi_idx;
DROP INDEX ticket_events_status_idx;
DROP INDEX tickets_kpi_reopened_idx;
DROP INDEX tickets_kpi_pending_idx;
DROP INDEX tickets_kpi_closed_idx;
DROP INDEX tickets_kpi_first_resolved_idx;
DROP INDEX tickets_kpi_resolved_idx;
DROP INDEX tickets_kpi_opened_idx;
