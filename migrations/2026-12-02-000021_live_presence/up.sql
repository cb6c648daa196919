-- Live views cost writers nothing while nobody watches. PostgreSQL serialises every committing
-- transaction that sent a NOTIFY on one cluster-wide lock, held across the commit's WAL flush,
-- so announcing each change (migration 000016) cut the write rate by a fifth even with no
-- subscriber anywhere. An instance with subscribers now keeps a row here, its heartbeat renewed
-- every 30 s (src/live/presence.rs); writers announce changes only while some instance's
-- heartbeat is under 90 s old. An instance that dies leaves a row that stops counting after
-- 90 s. The look-up runs in the trigger with a snapshot of its own (a plpgsql statement in a
-- READ COMMITTED transaction), so a writer sees a presence committed before its row was written.
CREATE TABLE live_presence (
    instance_id TEXT PRIMARY KEY,
    heartbeat_at TIMESTAMPTZ NOT NULL
);

CREATE FUNCTION live_watched() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM live_presence WHERE heartbeat_at > now() - interval '90 seconds')
$$;

CREATE OR REPLACE FUNCTION notify_ticket_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF live_watched() THEN
        PERFORM pg_notify('deskpulse_ticket_changes', 'e ' || NEW.ticket_id || ' ' || NEW.id);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION notify_ticket_interaction() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF live_watched() THEN
        PERFORM pg_notify('deskpulse_ticket_changes', 'i ' || NEW.ticket_id || ' ' || NEW.id);
    END IF;
    RETURN NULL;
END
$$;
