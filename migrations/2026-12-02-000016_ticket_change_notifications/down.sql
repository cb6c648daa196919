DROP TRIGGER interactions_notify ON interactions;
DROP FUNCTION notify_ticket_interaction();
DROP TRIGGER ticket_events_notify ON ticket_events;
DROP FUNCTION notify_ticket_event();
