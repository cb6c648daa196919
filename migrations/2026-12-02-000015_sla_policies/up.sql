-- Service-level targets (docs/sla.md): business-hours calendars, SLA policies per priority (and
-- optionally category), and what each ticket carries from the policy applied to it.

-- weekly_hours: seven arrays (Monday first) of {"start": minute, "end": minute} intervals;
-- holidays: [{"date": "YYYY-MM-DD", "yearly": bool, "name": text?}]. The domain validates both.
CREATE TABLE business_calendars (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         TEXT        NOT NULL UNIQUE CHECK (char_length(name) BETWEEN 1 AND 200),
    time_zone    TEXT        NOT NULL CHECK (char_length(time_zone) BETWEEN 1 AND 64),
    weekly_hours JSONB       NOT NULL CHECK (jsonb_typeof(weekly_hours) = 'array'),
    holidays     JSONB       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(holidays) = 'array'),
    is_default   BOOLEAN     NOT NULL DEFAULT false,
    version      INTEGER     NOT NULL DEFAULT 1,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX business_calendars_one_default ON business_calendars (is_default) WHERE is_default;

INSERT INTO business_calendars (name, time_zone, weekly_hours, is_default)
SELECT '24/7', 'UTC', jsonb_agg('[{"start": 0, "end": 1440}]'::jsonb), true FROM generate_series(1, 7);

CREATE TABLE sla_policies (
    id                     BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                   TEXT        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    priority               TEXT        NOT NULL CHECK (priority IN ('LOW', 'NORMAL', 'HIGH', 'URGENT')),
    category               TEXT        CHECK (char_length(category) BETWEEN 1 AND 64),
    first_response_minutes INTEGER     NOT NULL CHECK (first_response_minutes BETWEEN 1 AND 525600),
    resolution_minutes     INTEGER     NOT NULL CHECK (resolution_minutes BETWEEN 1 AND 525600),
    at_risk_percent        SMALLINT    NOT NULL DEFAULT 80 CHECK (at_risk_percent BETWEEN 1 AND 99),
    calendar_id            BIGINT      NOT NULL REFERENCES business_calendars (id),
    version                INTEGER     NOT NULL DEFAULT 1,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- One policy per priority and category; a policy without category covers the priority's rest.
CREATE UNIQUE INDEX sla_policies_scope_key ON sla_policies (priority, COALESCE(category, ''));
CREATE INDEX sla_policies_calendar_idx ON sla_policies (calendar_id);

-- What a ticket carries: a copy of its policy and calendar as applied (later edits of either do
-- not rewrite it), the resolution clock's running segments, and the instants computed from them
-- so that lists filter and order, and the scheduler finds breaches, without business-time
-- arithmetic in SQL. Written when the ticket opens, when its status stops or resumes the
-- resolution clock, and when its priority changes.
CREATE TABLE ticket_slas (
    ticket_id                      BIGINT      PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    policy_id                      BIGINT      REFERENCES sla_policies (id) ON DELETE SET NULL,
    policy                         JSONB       NOT NULL,
    applied_at                     TIMESTAMPTZ NOT NULL,
    segments                       JSONB       NOT NULL,
    first_response_due_at          TIMESTAMPTZ,
    first_response_risk_at         TIMESTAMPTZ,
    resolution_due_at              TIMESTAMPTZ,
    resolution_risk_at             TIMESTAMPTZ,
    resolution_breach_at           TIMESTAMPTZ,
    first_response_breach_recorded BOOLEAN     NOT NULL DEFAULT false,
    resolution_breach_recorded     BOOLEAN     NOT NULL DEFAULT false
);
-- The scheduler's two scans: clocks whose breach is not recorded yet.
CREATE INDEX ticket_slas_first_response_unrecorded ON ticket_slas (first_response_due_at)
    WHERE NOT first_response_breach_recorded;
CREATE INDEX ticket_slas_resolution_unrecorded ON ticket_slas (resolution_breach_at)
    WHERE NOT resolution_breach_recorded AND resolution_breach_at IS NOT NULL;
CREATE INDEX ticket_slas_policy_idx ON ticket_slas (policy_id);

-- Two new timeline events: a policy applied (or removed) and a breach.
ALTER TABLE ticket_events DROP CONSTRAINT ticket_events_kind_check;
ALTER TABLE ticket_events ADD CONSTRAINT ticket_events_kind_check
    CHECK (kind IN ('CREATED', 'ASSIGNED', 'STATUS_CHANGED', 'REOPENED', 'PRIORITY_CHANGED', 'NOTE_ADDED', 'RATED',
                    'SLA_APPLIED', 'SLA_BREACHED'));

-- The clock states of docs/sla.md, as domain::sla computes them for Ticket.sla; the ticket
-- list's slaState filter reads them. `at_now` is the caller's instant.
CREATE FUNCTION sla_first_response_state(due TIMESTAMPTZ, risk TIMESTAMPTZ, answered TIMESTAMPTZ, at_now TIMESTAMPTZ)
RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN due < COALESCE(answered, at_now) THEN 'BREACHED'
                WHEN answered IS NOT NULL THEN 'MET'
                WHEN risk <= at_now THEN 'AT_RISK'
                ELSE 'ON_TRACK' END
$$;
CREATE FUNCTION sla_resolution_state(breach TIMESTAMPTZ, risk TIMESTAMPTZ, status TEXT, at_now TIMESTAMPTZ)
RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN breach < at_now THEN 'BREACHED'
                WHEN status NOT IN ('OPEN', 'IN_PROGRESS') THEN 'MET'
                WHEN risk <= at_now THEN 'AT_RISK'
                ELSE 'ON_TRACK' END
$$;
CREATE FUNCTION sla_overall_state(first_response TEXT, resolution TEXT)
RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN 'BREACHED' IN (first_response, resolution) THEN 'BREACHED'
                WHEN first_response = 'MET' AND resolution = 'MET' THEN 'MET'
                WHEN 'AT_RISK' IN (first_response, resolution) THEN 'AT_RISK'
                ELSE 'ON_TRACK' END
$$;
