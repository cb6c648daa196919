CREATE OR REPLACE FUNCTION notify_ticket_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('deskpulse_ticket_changes', 'e ' || NEW.ticket_id || ' ' || NEW.id);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION notify_ticket_interaction() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('deskpulse_ticket_changes', 'i ' || NEW.ticket_id || ' ' || NEW.id);
    RETURN NULL;
END
$$;

DROP FUNCTION live_watched();
DROP TABLE live_presence;
