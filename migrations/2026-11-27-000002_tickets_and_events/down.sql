DROP TABLE ticket_events;
DROP FUNCTION refuse_update();
DROP TABLE tickets;
DROP FUNCTION next_ticket_number();
DROP SEQUENCE ticket_number_seq;
