DROP FUNCTION sla_overall_state(TEXT, TEXT);
DROP FUNCTION sla_resolution_state(TIMESTAMPTZ, TIMESTAMPTZ, TEXT, TIMESTAMPTZ);
DROP FUNCTION sla_first_response_state(TIMESTAMPTZ, TIMESTAMPTZ, TIMESTAMPTZ, TIMESTAMPTZ);
DELETE FROM ticket_events WHERE kind IN ('SLA_APPLIED', 'SLA_BREACHED');
ALTER TABLE ticket_events DROP CONSTRAINT ticket_events_kind_check;
ALTER TABLE ticket_events ADD CONSTRAINT ticket_events_kind_check
    CHECK (kind IN ('CREATED', 'ASSIGNED', 'STATUS_CHANGED', 'REOPENED', 'PRIORITY_CHANGED', 'NOTE_ADDED', 'RATED'));
DROP TABLE ticket_slas;
DROP TABLE sla_policies;
DROP TABLE business_calendars;
