-- The KPI engine's read model (docs/kpis.md, "The fact rows"): one narrow row per ticket holding,
-- packed into one bytea, every fact a KPI reads about that ticket (its instants, current
-- attributes, current rating, backlog status changes and uncorrected interactions), plus one row
-- per uncorrected interaction that has no ticket. The rows are kept by statement triggers in the
-- transaction of every change; `deskpulse kpi verify` compares them with the raw records and
-- `deskpulse kpi rebuild` rewrites them.
--
-- Packed layout (big-endian, as PostgreSQL's send functions write it; an absent instant or id is
-- i64::MIN; instants are microseconds since 2000-01-01 UTC):
--   ticket: opened_at, first_response_at, first_resolved_at, resolved_at, closed_at (5 x i64),
--           customer_id, assignee_id (2 x i64), flags (i16: 1 = status RESOLVED or CLOSED now,
--           2 = ever reopened), rating (i16, 0 = none), rated_at (i64), category, priority,
--           channel (each i16 byte length + UTF-8), status changes (i32 count, then per change
--           i64 at + i16 +1 reopened / -1 resolved; only for reopened tickets), interactions
--           (i32 count, then each as below)
--   interaction: occurred_at (i64), technician_id (i64), kind (i16: channel CALL 0, EMAIL 1,
--           CHAT 2, times 2, plus direction INBOUND 0, OUTBOUND 1), duration_seconds (i32, 0 when
--           none)

-- A fact row is found by the range of instants its facts fall in: `starts_at` (the opening, or
-- an earlier interaction) to `active_until` ('infinity' while the ticket is OPEN or IN_PROGRESS:
-- it is in every later backlog). A period's rows are those starting in it or shortly before
-- (src/store/kpis.rs reads `LOOKBACK` = 14 days before the period), plus the few long-lived
-- ones, found through their own partial index.
CREATE TABLE kpi_ticket_facts (
    ticket_id     BIGINT      PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    starts_at     TIMESTAMPTZ NOT NULL,
    active_until  TIMESTAMPTZ NOT NULL,
    long_lived    BOOLEAN     NOT NULL,
    facts         BYTEA       NOT NULL
) WITH (fillfactor = 90);
ALTER TABLE kpi_ticket_facts ALTER COLUMN facts SET STORAGE MAIN;
CREATE INDEX kpi_ticket_facts_starts_idx ON kpi_ticket_facts (starts_at);
CREATE INDEX kpi_ticket_facts_long_lived_idx ON kpi_ticket_facts (active_until) WHERE long_lived;

CREATE TABLE kpi_loose_interaction_facts (
    interaction_id  BIGINT      PRIMARY KEY REFERENCES interactions (id) ON DELETE CASCADE,
    occurred_at     TIMESTAMPTZ NOT NULL,
    facts           BYTEA       NOT NULL
);
CREATE INDEX kpi_loose_interaction_facts_occurred_idx ON kpi_loose_interaction_facts (occurred_at);

CREATE FUNCTION kpi_pack_instant(at TIMESTAMPTZ) RETURNS BYTEA
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(timestamptz_send(at), '\x8000000000000000'::bytea)
$$;

CREATE FUNCTION kpi_pack_id(id BIGINT) RETURNS BYTEA
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT int8send(coalesce(id, -9223372036854775808))
$$;

CREATE FUNCTION kpi_pack_text(value TEXT) RETURNS BYTEA
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT int2send(octet_length(value)::int2) || convert_to(value, 'UTF8')
$$;

CREATE FUNCTION kpi_pack_interaction(i interactions) RETURNS BYTEA
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT kpi_pack_instant(i.occurred_at) || kpi_pack_id(i.technician_id)
        || int2send((CASE i.channel WHEN 'CALL' THEN 0 WHEN 'EMAIL' THEN 2 ELSE 4 END
                     + CASE i.direction WHEN 'INBOUND' THEN 0 ELSE 1 END)::int2)
        || int4send(coalesce(i.duration_seconds, 0))
$$;

-- The fact rows as the raw records give them: what the table must hold. Filter it by ticket_id
-- (the predicate reaches the tickets' primary key).
CREATE VIEW kpi_ticket_fact_source AS
SELECT t.id AS ticket_id,
       least(t.opened_at, i.first_at) AS starts_at,
       active.until AS active_until,
       active.until > least(t.opened_at, i.first_at) + interval '14 days' AS long_lived,
       kpi_pack_instant(t.opened_at) || kpi_pack_instant(t.first_response_at)
           || kpi_pack_instant(t.first_resolved_at) || kpi_pack_instant(t.resolved_at)
           || kpi_pack_instant(t.closed_at) || kpi_pack_id(t.customer_id) || kpi_pack_id(t.assignee_id)
           || int2send(((CASE WHEN t.status IN ('RESOLVED', 'CLOSED') THEN 1 ELSE 0 END)
                        + (CASE WHEN t.reopen_count > 0 THEN 2 ELSE 0 END))::int2)
           || int2send(coalesce(r.rating, 0)::int2) || kpi_pack_instant(r.submitted_at)
           || kpi_pack_text(t.category) || kpi_pack_text(t.priority) || kpi_pack_text(t.channel)
           || int4send(coalesce(s.n, 0)::int4) || coalesce(s.packed, '')
           || int4send(coalesce(i.n, 0)::int4) || coalesce(i.packed, '') AS facts
FROM tickets t
LEFT JOIN satisfaction_ratings r ON r.ticket_id = t.id AND r.superseded_at IS NULL
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

CREATE VIEW kpi_loose_interaction_fact_source AS
SELECT x.id AS interaction_id, x.occurred_at, kpi_pack_interaction(x) AS facts
FROM interactions x
WHERE x.ticket_id IS NULL AND NOT EXISTS (SELECT 1 FROM interactions c WHERE c.corrects_id = x.id);

-- Rewrites the fact rows of these tickets from the raw records. The tickets' rows are locked
-- first, so that two transactions changing one ticket (say a transition and an interaction)
-- write its facts one after the other, the second seeing the first's change.
-- A generic plan, cached per connection: planning the view afresh for each ticket costs several
-- times more than running it (measured: 2-4 ms a call with custom plans, 0.5 ms generic).
CREATE FUNCTION kpi_refresh_tickets(ids BIGINT[]) RETURNS VOID
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    IF cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    PERFORM 1 FROM tickets WHERE id = ANY (ids) ORDER BY id FOR NO KEY UPDATE;
    INSERT INTO kpi_ticket_facts AS f (ticket_id, starts_at, active_until, long_lived, facts)
    SELECT s.ticket_id, s.starts_at, s.active_until, s.long_lived, s.facts
    FROM kpi_ticket_fact_source s WHERE s.ticket_id = ANY (ids)
    ON CONFLICT (ticket_id) DO UPDATE
        SET starts_at = EXCLUDED.starts_at, active_until = EXCLUDED.active_until,
            long_lived = EXCLUDED.long_lived, facts = EXCLUDED.facts
        WHERE (f.starts_at, f.active_until, f.long_lived, f.facts)
              IS DISTINCT FROM (EXCLUDED.starts_at, EXCLUDED.active_until, EXCLUDED.long_lived, EXCLUDED.facts);
END
$$;

CREATE FUNCTION kpi_refresh_loose_interactions(ids BIGINT[]) RETURNS VOID
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    IF cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    DELETE FROM kpi_loose_interaction_facts WHERE interaction_id = ANY (ids);
    INSERT INTO kpi_loose_interaction_facts (interaction_id, occurred_at, facts)
    SELECT s.interaction_id, s.occurred_at, s.facts FROM kpi_loose_interaction_fact_source s
    WHERE s.interaction_id = ANY (ids);
END
$$;

-- Bulk loads (seed) set `deskpulse.kpi_facts` to 'deferred' for their transaction and rewrite
-- the facts of what they loaded at the end, in one pass.
CREATE FUNCTION kpi_facts_deferred() RETURNS BOOLEAN
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('deskpulse.kpi_facts', true), '') = 'deferred'
$$;

CREATE FUNCTION kpi_facts_after_ticket_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT kpi_facts_deferred() THEN
        PERFORM kpi_refresh_tickets(ARRAY(SELECT id FROM new_rows));
    END IF;
    RETURN NULL;
END
$$;

-- Only changes to what the facts hold: a note or a version bump alone writes nothing.
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

-- Only reopened tickets keep their status changes in their facts (the others' one resolution is
-- their first_resolved_at, which the ticket's own trigger covers).
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

CREATE FUNCTION kpi_facts_after_rating_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT kpi_facts_deferred() THEN
        PERFORM kpi_refresh_tickets(ARRAY(SELECT DISTINCT ticket_id FROM new_rows));
    END IF;
    RETURN NULL;
END
$$;

-- An interaction counts for its ticket (or, without one, on its own) unless a later entry
-- corrects it: a change touches the entries in the statement and the entries they correct.
CREATE FUNCTION kpi_facts_after_interaction_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    touched BIGINT[];
BEGIN
    IF kpi_facts_deferred() THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        touched := ARRAY(SELECT id FROM old_rows UNION SELECT corrects_id FROM old_rows WHERE corrects_id IS NOT NULL);
        PERFORM kpi_refresh_tickets(ARRAY(
            SELECT ticket_id FROM old_rows WHERE ticket_id IS NOT NULL
            UNION SELECT x.ticket_id FROM interactions x WHERE x.id = ANY (touched) AND x.ticket_id IS NOT NULL));
    ELSE
        touched := ARRAY(SELECT id FROM new_rows UNION SELECT corrects_id FROM new_rows WHERE corrects_id IS NOT NULL);
        PERFORM kpi_refresh_tickets(ARRAY(
            SELECT DISTINCT x.ticket_id FROM interactions x WHERE x.id = ANY (touched) AND x.ticket_id IS NOT NULL));
    END IF;
    PERFORM kpi_refresh_loose_interactions(touched);
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
CREATE TRIGGER kpi_facts_ratings_insert AFTER INSERT ON satisfaction_ratings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kpi_facts_after_rating_change();
CREATE TRIGGER kpi_facts_ratings_update AFTER UPDATE ON satisfaction_ratings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kpi_facts_after_rating_change();
CREATE TRIGGER kpi_facts_ratings_delete AFTER DELETE ON satisfaction_ratings
    REFERENCING OLD TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kpi_facts_after_rating_change();
CREATE TRIGGER kpi_facts_interactions_insert AFTER INSERT ON interactions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kpi_facts_after_interaction_change();
CREATE TRIGGER kpi_facts_interactions_update AFTER UPDATE ON interactions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION kpi_facts_after_interaction_change();
CREATE TRIGGER kpi_facts_interactions_delete AFTER DELETE ON interactions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION kpi_facts_after_interaction_change();

-- Fill them for the records already there (no JIT compilation for statements that run once).
SET LOCAL jit = off;
INSERT INTO kpi_ticket_facts (ticket_id, starts_at, active_until, long_lived, facts)
SELECT ticket_id, starts_at, active_until, long_lived, facts FROM kpi_ticket_fact_source ORDER BY starts_at;
INSERT INTO kpi_loose_interaction_facts (interaction_id, occurred_at, facts)
SELECT interaction_id, occurred_at, facts FROM kpi_loose_interaction_fact_source ORDER BY occurred_at;

-- The covering indexes of the SQL engine (migration 000007) have no reader any more; retention
-- still finds closed tickets by closed_at.
DROP INDEX tickets_kpi_opened_idx;
DROP INDEX tickets_kpi_resolved_idx;
DROP INDEX tickets_kpi_first_resolved_idx;
DROP INDEX tickets_kpi_closed_idx;
DROP INDEX tickets_kpi_pending_idx;
DROP INDEX tickets_kpi_reopened_idx;
DROP INDEX ticket_events_status_idx;
DROP INDEX satisfaction_ratings_kpi_idx;
DROP INDEX interactions_kpi_idx;
CREATE INDEX tickets_closed_at_idx ON tickets (closed_at) WHERE closed_at IS NOT NULL;
