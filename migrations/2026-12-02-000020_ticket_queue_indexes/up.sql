-- The open queue, newest first, as frontends list it all day (docs/benchmarks.md, "Load
-- benchmark"): `tickets(filter: {status: [OPEN, IN_PROGRESS]})` in the default order, for the whole
-- team and for one assignee. Without them PostgreSQL read every open ticket through the status
-- index and sorted them to return the first page; with them it reads the page's rows in order.
-- Partial: only the few percent of tickets still open are in them, so resolved tickets cost them
-- nothing.
CREATE INDEX tickets_open_queue_idx ON tickets (opened_at DESC, id DESC)
    WHERE status IN ('OPEN', 'IN_PROGRESS');
CREATE INDEX tickets_open_queue_assignee_idx ON tickets (assignee_id, opened_at DESC, id DESC)
    WHERE status IN ('OPEN', 'IN_PROGRESS');
