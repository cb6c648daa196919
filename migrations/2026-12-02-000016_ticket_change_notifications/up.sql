-- Live ticket views: every committed change to a ticket is announced on the channel
-- `deskpulse_ticket_changes`, from the writer's own transaction, so a rolled-back change is never
-- announced and every writer (GraphQL mutations, `deskpulse import`, anything else) is covered in
-- one place. The payload carries ids only: `e <ticket id> <event id>` for a timeline event
-- (creation, transition, assignment, priority, note, rating), `i <ticket id> <interaction id>`
-- for an interaction logged on a ticket. The listening instance reads the rows and checks who may
-- see them. PostgreSQL delivers notifications at commit, in commit order.
CREATE FUNCTION notify_ticket_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('deskpulse_ticket_changes', 'e ' || NEW.ticket_id || ' ' || NEW.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER ticket_events_notify AFTER INSERT ON ticket_events
    FOR EACH ROW EXECUTE FUNCTION notify_ticket_event();

CREATE FUNCTION notify_ticket_interaction() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('deskpulse_ticket_changes', 'i ' || NEW.ticket_id || ' ' || NEW.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER interactions_notify AFTER INSERT ON interactions
    FOR EACH ROW WHEN (NEW.ticket_id IS NOT NULL) EXECUTE FUNCTION notify_ticket_interaction();
